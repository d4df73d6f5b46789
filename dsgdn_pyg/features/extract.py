"""From a dialogue manifest to a feature directory.

:func:`extract_features` validates the manifest, computes the requested
modalities dialogue by dialogue (reusing the per-dialogue cache in
``out_dir/.cache``), and writes ``<modality>.npz``, ``metadata.pkl`` and
``features.json``. Modalities extracted by earlier runs into the same
directory are kept, so text, audio and visual can be added one at a time;
``features.json`` records the fingerprint of the dialogues each was extracted
from, so one of another manifest is refused rather than kept.
"""

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import (Any, Callable, Dict, Iterable, List, Optional,
                    Sequence, Tuple)

import numpy as np

from dsgdn_pyg.data.readers import npz_array, open_npz
from dsgdn_pyg.data.safe_pickle import safe_load
from dsgdn_pyg.errors import DataError
from dsgdn_pyg.features.audio import AudioEncoder
from dsgdn_pyg.features.cache import FeatureCache, dialogue_key
from dsgdn_pyg.features.manifest import (Dialogue, PathLike, check_classes,
                                         location, read_manifest)
from dsgdn_pyg.features.store import (FEATURES_JSON, FINGERPRINT, METADATA,
                                      npz_name, read_features_json,
                                      write_features_json, write_metadata,
                                      write_npz)
from dsgdn_pyg.features.text import DEFAULT_TEXT_MODEL, TextEncoder
from dsgdn_pyg.features.visual import VISUAL_DIM, VisualLoader
from dsgdn_pyg.io import (check_not_input, check_writable,
                          remove_stale_temporaries)

MODALITIES = ("text", "audio", "visual")
CACHE_DIR = ".cache"

#: ``progress(advance, total, description)``: ``advance`` more utterances of
#: ``total`` are done for the modality named by ``description``; called once
#: with ``advance=0`` when a modality starts.
ProgressHook = Callable[[int, int, str], None]


@dataclass
class ExtractionSummary:
    """What a call of :func:`extract_features` did."""

    out_dir: Path
    modalities: Tuple[str, ...]
    num_dialogues: int
    num_utterances: int
    classes: Optional[List[str]]
    dims: Dict[str, int] = field(default_factory=dict)
    #: dialogues encoded / taken from the cache, per modality
    computed: Dict[str, int] = field(default_factory=dict)
    cached: Dict[str, int] = field(default_factory=dict)
    #: modalities of another manifest removed (``drop_stale``)
    dropped: List[str] = field(default_factory=list)


def build_metadata(dialogues: Sequence[Dialogue], source: str,
                   classes: Optional[Sequence[str]] = None
                   ) -> Tuple[list, Optional[List[str]]]:
    """``[speakers, labels, sentences, train_ids, test_ids, valid_ids]`` in
    the layout of ``iemocap.pkl`` and the class names.

    Name labels become indices into ``classes`` (default: the sorted names
    found); integer labels are kept; a missing label is ``-1``.
    """
    if classes is not None:
        classes = check_classes(classes)
    found = [u.label for d in dialogues for u in d.utterances
             if u.label is not None]
    names = bool(found) and isinstance(found[0], str)
    if names and classes is None:
        classes = sorted(set(found))
    index = {name: i for i, name in enumerate(classes or [])}
    speakers, labels, sentences = {}, {}, {}
    splits: Dict[str, List[str]] = {"train": [], "test": [], "valid": []}
    for d in dialogues:
        row = []
        for i, u in enumerate(d.utterances):
            if u.label is None:
                row.append(-1)
            elif names and u.label not in index:
                raise DataError(
                    f"{location(source, d.dialogue_id, i)}: field 'label' "
                    f"is {u.label!r}; expected one of the classes "
                    f"{', '.join(classes)}")
            elif names:
                row.append(index[u.label])
            elif classes is not None and u.label >= len(classes):
                raise DataError(
                    f"{location(source, d.dialogue_id, i)}: field 'label' "
                    f"is {u.label}; expected a class index in "
                    f"0..{len(classes) - 1} (the {len(classes)} classes "
                    f"{', '.join(classes)})")
            else:
                row.append(int(u.label))
        speakers[d.dialogue_id] = [u.speaker for u in d.utterances]
        labels[d.dialogue_id] = row
        sentences[d.dialogue_id] = [u.text for u in d.utterances]
        splits[d.split].append(d.dialogue_id)
    metadata = [speakers, labels, sentences, splits["train"],
                splits["test"], splits["valid"]]
    return metadata, classes


def _dialogue_rows(dialogues: Sequence[Dialogue]) -> List[list]:
    """``[id, split, speakers, texts, labels]`` of each dialogue, in order:
    what ``metadata.pkl`` and the rows of every ``.npz`` depend on."""
    return [[d.dialogue_id, d.split, [u.speaker for u in d.utterances],
             [u.text for u in d.utterances], [u.label for u in d.utterances]]
            for d in dialogues]


def _metadata_rows(metadata: list, classes: Optional[Sequence[str]]
                   ) -> List[list]:
    """The :func:`_dialogue_rows` of the manifest ``metadata`` was built from
    with ``classes`` (exact unless its labels were integers with classes)."""
    speakers, labels, sentences = metadata[:3]
    split = {vid: name for name, ids in zip(("train", "test", "valid"),
                                            metadata[3:]) for vid in ids}
    return [[vid, split[vid], speakers[vid], sentences[vid],
             [None if y < 0 else classes[y] if classes else y
              for y in labels[vid]]] for vid in speakers]


def _fingerprint(rows: List[list]) -> str:
    """The sha256 hex digest of :func:`_dialogue_rows`."""
    blob = json.dumps(rows, ensure_ascii=True)
    return hashlib.sha256(blob.encode("ascii")).hexdigest()


def _first_changed(out_dir: Path, recorded: str,
                   classes: Optional[Sequence[str]],
                   rows: List[list]) -> Optional[str]:
    """The first dialogue of ``rows`` that differs from those of the
    folder's ``metadata.pkl``, when that file is the one fingerprinted
    ``recorded``; else None."""
    try:
        old = _metadata_rows(safe_load(out_dir / METADATA), classes)
    except Exception:  # a hint only: a missing or odd file gives none
        return None
    if _fingerprint(old) != recorded:
        return None
    return next((new[0] for new, was in zip(rows, old) if new != was), None)


def _check_inputs(dialogues: Sequence[Dialogue], modality: str,
                  source: str) -> None:
    """Every utterance must name its file for a file-based modality."""
    kind = {"audio": "a WAV file", "visual": "a .npy file"}[modality]
    for d in dialogues:
        for i, u in enumerate(d.utterances):
            if getattr(u, modality) is None:
                raise DataError(
                    f"{location(source, d.dialogue_id, i)}: field "
                    f"{modality!r} is missing; expected the path of {kind} "
                    f"for the {modality} features")


_STALE_ADVICE = ("pass --drop-stale to remove it (then extract it again: its "
                 "cache makes that quick) or use another out dir")


def _check_kept(out_dir: Path, modality: str, info: Dict[str, Any],
                dialogues: Sequence[Dialogue], source: str) -> bool:
    """Whether an earlier run's ``<modality>.npz`` exists, raising
    :class:`DataError` when it does not match the manifest's dialogues.

    ``info`` is the folder's ``features.json``; where it records the
    dialogues' fingerprint for ``modality``, that must be the manifest's too
    (folders of earlier versions only have their ids and lengths checked).
    """
    path = out_dir / npz_name(modality)
    if not path.is_file():
        return False
    expected = {d.dialogue_id: len(d) for d in dialogues}
    advice = (f"expected the dialogues of {source}; {_STALE_ADVICE}")
    try:
        with open_npz(path) as archive:
            rows = {key: npz_array(archive, key).shape[0]
                    for key in archive.files}
    except Exception as exc:  # any corrupt archive or member
        reason = str(exc).splitlines()[0] if str(exc) else repr(exc)
        raise DataError(f"{path}: not readable ({reason}); {advice}") \
            from None
    for dialogue_id, length in expected.items():
        if dialogue_id not in rows:
            raise DataError(f"{path}: holds no features for dialogue "
                            f"{dialogue_id!r} of the manifest; {advice}")
        if rows[dialogue_id] != length:
            raise DataError(f"{path}: dialogue {dialogue_id!r} has "
                            f"{rows[dialogue_id]} rows for {length} "
                            f"utterances; {advice}")
    extra = sorted(set(rows) - set(expected))
    if extra:
        raise DataError(f"{path}: holds dialogue {extra[0]!r}, which is not "
                        f"in the manifest; {advice}")
    entry = info["modalities"][modality]
    recorded = entry.get(FINGERPRINT) if isinstance(entry, dict) else None
    current = _dialogue_rows(dialogues)
    if recorded is not None and recorded != _fingerprint(current):
        changed = _first_changed(out_dir, recorded, info["classes"], current)
        what = (f"dialogue {changed!r} of {source} differs in its position,"
                f" split, speakers, texts or labels" if changed is not None
                else f"the dialogues of {source} differ in order, splits, "
                f"speakers, texts or labels")
        raise DataError(f"{path}: extracted from a different manifest "
                        f"({what}); {_STALE_ADVICE}")
    return True


def _check_outputs_are_not_inputs(out: Path, modalities: Sequence[str],
                                  manifest: PathLike,
                                  dialogues: Sequence[Dialogue]) -> None:
    """None of the files written (``metadata.pkl``, ``features.json``, the
    ``.npz`` files) may be the manifest or a file it names, and neither may
    lie in the cache."""
    inputs = [("the manifest", Path(manifest))] + [
        (f"the {kind} file of dialogue {d.dialogue_id!r}, utterance {i}",
         getattr(u, kind)) for d in dialogues
        for i, u in enumerate(d.utterances) for kind in ("audio", "visual")
        if getattr(u, kind) is not None]
    for name in [METADATA, FEATURES_JSON] + [npz_name(m) for m in modalities]:
        check_not_input(out / name, "--out", inputs=inputs)
    for name, path in inputs:
        check_not_input(path, name, folders=[("the cache", out / CACHE_DIR)])


def _batches(items: Sequence[Tuple[Dialogue, str]], size: int
             ) -> Iterable[List[Tuple[Dialogue, str]]]:
    """Consecutive groups of dialogues holding at least ``size`` utterances
    (the last may hold fewer), so short dialogues share a forward pass."""
    group, count = [], 0
    for item in items:
        group.append(item)
        count += len(item[0])
        if count >= size:
            yield group
            group, count = [], 0
    if group:
        yield group


def _encode_files(encoder, dialogue: Dialogue, modality: str, source: str,
                  step: Callable[[int], None]) -> np.ndarray:
    rows = []
    for i, u in enumerate(dialogue.utterances):
        try:
            rows.append(encoder.encode_file(getattr(u, modality)))
        except DataError as exc:
            raise DataError(f"{location(source, dialogue.dialogue_id, i)}: "
                            f"field {modality!r}: {exc}") from None
        step(1)
    return np.stack(rows).astype(np.float32, copy=False)


def _extract_modality(modality: str, encoder, dialogues: Sequence[Dialogue],
                      cache: Optional[FeatureCache], source: str,
                      progress: ProgressHook, summary: ExtractionSummary,
                      batch_size: int) -> Dict[str, np.ndarray]:
    total = sum(len(d) for d in dialogues)
    progress(0, total, modality)
    arrays: Dict[str, np.ndarray] = {}
    pending = []
    for d in dialogues:
        key = dialogue_key(d, modality, encoder.settings)
        hit = cache.get(modality, key, len(d)) if cache is not None \
            else None
        if hit is not None:
            arrays[d.dialogue_id] = hit
            progress(len(d), total, modality)
        else:
            pending.append((d, key))
    summary.cached[modality] = len(dialogues) - len(pending)
    summary.computed[modality] = len(pending)

    def finish(d: Dialogue, key: str, array: np.ndarray) -> None:
        if cache is not None:
            cache.put(modality, key, array)
        arrays[d.dialogue_id] = array

    if modality == "text":
        for group in _batches(pending, batch_size):
            texts = [u.text for d, _ in group for u in d.utterances]
            vectors = encoder.encode(texts)
            start = 0
            for d, key in group:
                finish(d, key, vectors[start:start + len(d)])
                start += len(d)
            progress(len(texts), total, modality)
    else:
        for d, key in pending:
            finish(d, key, _encode_files(
                encoder, d, modality, source,
                lambda n: progress(n, total, modality)))
    # The manifest's order, whatever came from the cache.
    return {d.dialogue_id: arrays[d.dialogue_id] for d in dialogues}


def _make_encoder(modality: str, text_model: str, visual_dim: int,
                  device: str, batch_size: int):
    if modality == "text":
        return TextEncoder(text_model, device=device, batch_size=batch_size)
    if modality == "audio":
        return AudioEncoder()
    return VisualLoader(visual_dim)


def extract_features(manifest_path: PathLike, out_dir: PathLike,
                     modalities: Sequence[str] = ("text", ),
                     text_model: str = DEFAULT_TEXT_MODEL,
                     visual_dim: int = VISUAL_DIM, device: str = "cpu",
                     batch_size: int = 64,
                     classes: Optional[Sequence[str]] = None,
                     progress: Optional[ProgressHook] = None,
                     use_cache: bool = True,
                     cache_dir: Optional[PathLike] = None,
                     drop_stale: bool = False) -> ExtractionSummary:
    """Extracts ``modalities`` of the dialogues in ``manifest_path`` into
    ``out_dir``.

    Args:
        manifest_path: the JSON Lines manifest (see
            :mod:`dsgdn_pyg.features.manifest`).
        out_dir: the feature directory, created if needed; modalities of
            earlier runs on the same manifest are kept.
        modalities: any of ``"text"``, ``"audio"``, ``"visual"``.
        text_model: sentence-transformers name or folder for ``"text"``.
        visual_dim: the width of every visual ``.npy`` vector.
        device: torch device of the text model.
        batch_size: sentences per text forward pass.
        classes: the class names, in index order, for name labels (default:
            the sorted names found); recorded in ``features.json``.
        progress: optional :data:`ProgressHook` called as utterances finish.
        use_cache: read and fill the per-dialogue cache.
        cache_dir: where that cache lives (default ``out_dir/.cache``).
        drop_stale: remove the modalities of earlier runs that do not match
            the manifest's dialogues instead of refusing them (a changed
            manifest: each is then extracted again, from the cache).

    Raises:
        DataError: a problem in the manifest or its files, or an out dir
            holding features of other dialogues.
        ValueError: an out dir that cannot be written or an unusable
            device (both found before any work).
        MissingExtraError: the extra a modality needs is not installed.
    """
    requested = list(dict.fromkeys(modalities))
    unknown = [m for m in requested if m not in MODALITIES]
    if not requested or unknown:
        raise ValueError(f"modalities: expected some of "
                         f"{', '.join(MODALITIES)}, got {list(modalities)!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size: expected an integer >= 1, got "
                         f"{batch_size}")
    source = str(manifest_path)
    out = Path(out_dir)
    # Everything is checked before any work; the folder is created by the
    # first file written, so a failure before then leaves nothing behind.
    check_writable(out, "features folder", directory=True)
    encoders = {m: _make_encoder(m, text_model, visual_dim, device,
                                 batch_size) for m in requested}
    dialogues = read_manifest(manifest_path)
    for modality in requested:
        if modality != "text":
            _check_inputs(dialogues, modality, source)
    _check_outputs_are_not_inputs(out, requested, manifest_path, dialogues)
    metadata, classes = build_metadata(dialogues, source, classes)
    info = read_features_json(out / FEATURES_JSON)
    kept, stale = {}, []
    for m, entry in info["modalities"].items():
        if m not in MODALITIES or m in requested:
            continue
        try:
            if _check_kept(out, m, info, dialogues, source):
                kept[m] = entry
        except DataError:
            if not drop_stale:
                raise
            stale.append(m)

    remove_stale_temporaries(out)  # of a killed run, cache included
    cache_root = Path(cache_dir) if cache_dir is not None else \
        out / CACHE_DIR
    if use_cache and cache_dir is not None:
        remove_stale_temporaries(cache_root)
    cache = FeatureCache(cache_root) if use_cache else None
    summary = ExtractionSummary(
        out_dir=out, modalities=tuple(requested),
        num_dialogues=len(dialogues),
        num_utterances=sum(len(d) for d in dialogues), classes=classes)
    hook = progress or (lambda advance, total, description: None)
    digest = _fingerprint(_dialogue_rows(dialogues))
    entries = {}
    for modality in requested:
        encoder = encoders[modality]
        arrays = _extract_modality(modality, encoder, dialogues, cache,
                                   source, hook, summary, batch_size)
        dims = {a.shape[1] for a in arrays.values()}
        if len(dims) != 1:
            raise RuntimeError(f"{modality}: dialogues got different widths "
                               f"{sorted(dims)}")
        summary.dims[modality] = dims.pop()
        write_npz(out / npz_name(modality), arrays)
        entries[modality] = {"dim": summary.dims[modality],
                             **encoder.metadata, "file": npz_name(modality),
                             FINGERPRINT: digest}

    for modality in stale:  # before features.json stops listing them
        (out / npz_name(modality)).unlink(missing_ok=True)
    summary.dropped = stale
    write_metadata(out / METADATA, metadata)
    merged = {**kept, **entries}
    write_features_json(out / FEATURES_JSON, {
        "classes": classes,
        "modalities": {m: merged[m] for m in MODALITIES if m in merged},
    })
    return summary
