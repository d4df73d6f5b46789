"""Readers of the two on-disk dialogue formats, with one-line errors.

* A *feature bundle* (the published features of the paper's Sec. 5.1 and
  5.4, distributed by earlier work): the pickled tuple ``videoIDs, videoSpeakers,
  videoLabels, videoText, roberta2, roberta3, roberta4, videoAudio,
  videoVisual, videoSentence, trainVid, testVid`` (MELD: one more item) of
  ``iemocap_multimodal_features.pkl`` / ``meld_multimodal_features.pkl``.
* A *dialogue folder*: one metadata pickle ``[speakers, labels, sentences,
  train_ids, test_ids, valid_ids]`` plus one ``.npz`` file per modality
  (``text*.npz``, ``audio*.npz``, ``visual*.npz``) holding a float
  ``[N, D]`` array per dialogue id, and optionally the ``features.json``
  written by ``dsgdn features``.

Both return :class:`DialogueRecords`: checked numpy arrays per dialogue, not
yet graphs (:mod:`dsgdn_pyg.data.corpus` builds those). Every problem in the
files raises :class:`~dsgdn_pyg.errors.DataError` naming the file, the
dialogue and what was expected. Pickles go through
:func:`~dsgdn_pyg.data.safe_pickle.safe_load`; ``.npz`` files are read with
``allow_pickle=False``.
"""

import dataclasses
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Hashable, List, Optional, Sequence, Union

import numpy as np

from dsgdn_pyg.data.safe_pickle import safe_load
from dsgdn_pyg.errors import DataError
from dsgdn_pyg.io import path_problem

MODALITIES = ("text", "audio", "visual")
IEMOCAP_CLASSES = ["happy", "sad", "neutral", "angry", "excited",
                   "frustrated"]
MELD_CLASSES = ["neutral", "surprise", "fear", "sadness", "joy", "disgust",
                "anger"]
IEMOCAP_SPEAKERS = ["M", "F"]
#: The classes of each preset, in index order (the published bundles').
PRESET_CLASSES = {"iemocap": IEMOCAP_CLASSES, "meld": MELD_CLASSES}
CLASSES_ADVICE = "to train on the data's own classes, pass --classes data"
#: How every zip archive, hence every ``.npz``, begins (the second: empty).
NPZ_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
MELD_NUM_SPEAKERS = 9

BUNDLE_FIELDS = ("videoIDs", "videoSpeakers", "videoLabels", "videoText",
                 "roberta2", "roberta3", "roberta4", "videoAudio",
                 "videoVisual", "videoSentence", "trainVid", "testVid")
BUNDLE_MODALITIES = {"text": "videoText", "audio": "videoAudio",
                     "visual": "videoVisual"}
FOLDER_FIELDS = ("speakers", "labels", "sentences", "train_ids", "test_ids",
                 "valid_ids")
FEATURES_JSON = "features.json"

PathLike = Union[str, Path]


@dataclass
class Dialogue:
    """One checked dialogue: ``speaker`` and ``label`` int64 ``[N]``,
    ``features`` float32 ``[N, D]`` per modality."""
    id: str
    speaker: np.ndarray
    label: np.ndarray
    features: Dict[str, np.ndarray]

    @property
    def num_utterances(self) -> int:
        return int(self.label.shape[0])


@dataclass
class DialogueRecords:
    """What a reader found: dialogues, splits and their vocabularies.

    :obj:`valid_ids` is ``None`` when the data has no validation split of
    its own (one is then carved from :obj:`train_ids`).
    :obj:`label_source` names the file holding the labels, and
    :obj:`classes_source` the one naming the classes (``None`` when the
    class names were inferred from integer labels).
    """
    name: str
    source: Optional[str]
    classes: List[str]
    modality_dims: Dict[str, int]
    num_speakers: int
    speaker_vocab: Optional[List[str]]
    dialogues: Dict[str, Dialogue]
    train_ids: List[str]
    test_ids: List[str]
    valid_ids: Optional[List[str]] = None
    extractors: Optional[dict] = None
    label_source: Optional[str] = None
    classes_source: Optional[str] = None


def _type_name(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)} items"
    return type(value).__name__


def dialogue_id(value: Any, where: str, what: str) -> str:
    """A dialogue id as the string it is everywhere else: MELD's published
    ids are integers, while ``.npz`` keys and manifest ids are strings, so
    ``0`` and ``'0'`` name the same dialogue."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise DataError(f"{where}: {what}: dialogue id {value!r} is "
                        f"{_type_name(value)}; expected a string or an "
                        f"integer")
    return str(value)


def _by_id(table: Mapping, where: str, what: str) -> Dict[str, Any]:
    """:obj:`table` keyed by string dialogue ids."""
    out: Dict[str, Any] = {}
    for key, value in table.items():
        vid = dialogue_id(key, where, what)
        if vid in out:
            raise DataError(f"{where}: {what}: dialogue '{vid}' is a key "
                            f"twice (as {key!r} and as another spelling); "
                            f"expected one entry per dialogue")
        out[vid] = value
    return out


def _id_list(value: Any, where: str, what: str) -> List[str]:
    """A split's dialogue ids as a list of strings, each listed once (sets
    are sorted, so the order does not depend on hashing)."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, (list, tuple, set, frozenset)):
        raise DataError(f"{where}: {what}: expected a list of dialogue ids, "
                        f"got {_type_name(value)}")
    ids = [dialogue_id(v, where, what) for v in value]
    seen = set()
    for vid in ids:
        if vid in seen:
            raise DataError(f"{where}: {what}: dialogue '{vid}' is listed "
                            f"twice; expected each dialogue once (it would "
                            f"be trained or scored twice per epoch)")
        seen.add(vid)
    return sorted(ids) if isinstance(value, (set, frozenset)) else ids


def _check_splits(where: str, splits: Dict[str, List[str]]) -> None:
    seen: Dict[str, str] = {}
    for split, ids in splits.items():
        for vid in ids:
            other = seen.setdefault(vid, split)
            if other != split:
                raise DataError(f"{where}: dialogue '{vid}' is in both "
                                f"{other} and {split}; expected disjoint "
                                f"splits")


def check_labels(labels: Any, where: str, vid: Any,
                 num_utterances: int) -> np.ndarray:
    """Labels of one dialogue as int64 ``[N]`` (range is checked later,
    once the classes are known)."""
    try:
        array = np.asarray(labels)
    except Exception:
        array = np.asarray([], dtype=object)
    if array.ndim == 1 and array.dtype.kind == "f":
        odd = ~np.isfinite(array) | (array != np.round(array))
        if odd.any():
            i = int(np.flatnonzero(odd)[0])
            raise DataError(f"{where}: dialogue '{vid}', utterance {i}: "
                            f"label {array[i].item()!r} is not a whole number; "
                            f"expected integer class labels")
    if array.ndim != 1 or array.dtype.kind not in "biuf":
        raise DataError(f"{where}: dialogue '{vid}': expected a list of "
                        f"integer class labels, got {_type_name(labels)}")
    if array.shape[0] != num_utterances:
        raise DataError(f"{where}: dialogue '{vid}' has {array.shape[0]} "
                        f"labels but {num_utterances} speakers; expected "
                        f"one label per utterance")
    return array.astype(np.int64)


def check_label_range(records: DialogueRecords, where: str,
                      classes: Optional[Sequence[str]] = None,
                      expected_by: Optional[str] = None,
                      advice: str = "") -> None:
    """Every label must index one of :obj:`classes` (default
    :obj:`records.classes`); :obj:`expected_by` names whose classes they
    are and :obj:`advice` what to do about it in the message."""
    num_classes = len(records.classes if classes is None else classes)
    whose = f" of {expected_by}" if expected_by else ""
    for vid, dialogue in records.dialogues.items():
        bad = (dialogue.label < 0) | (dialogue.label >= num_classes)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{where}: dialogue '{vid}', utterance {i}: label "
                f"{int(dialogue.label[i])} is outside the {num_classes} "
                f"classes{whose} (expected 0..{num_classes - 1})"
                + (f"; {advice}" if advice else ""))


def conform_classes(records: DialogueRecords, classes: Sequence[str],
                    expected_by: str, advice: str = "") -> DialogueRecords:
    """The records with :obj:`classes` (e.g. a preset's) as their classes.

    Class names the data declares (``features.json``, a bundle's kind) must
    all be among :obj:`classes`, and their labels are renumbered by name;
    integer labels the data does not name must index :obj:`classes`. Any
    other label raises :class:`DataError` naming the file (and the
    dialogue and utterance): training on other classes than expected is a
    choice, never a silent change of the task. :obj:`expected_by` and
    :obj:`advice` complete the message, e.g. ``"preset 'iemocap'"`` and
    :data:`CLASSES_ADVICE`.
    """
    classes = list(classes)
    if records.classes == classes:
        return records
    if records.classes_source is None:
        check_label_range(records, records.label_source or records.name,
                          classes, expected_by, advice)
        return dataclasses.replace(records, classes=classes)
    unknown = [c for c in records.classes if c not in classes]
    if unknown:
        raise DataError(
            f"{records.classes_source}: class {unknown[0]!r} is not one of "
            f"the {len(classes)} classes of {expected_by} "
            f"({', '.join(classes)})" + (f"; {advice}" if advice else ""))
    table = np.array([classes.index(c) for c in records.classes],
                     dtype=np.int64)
    return dataclasses.replace(
        records, classes=classes,
        dialogues={vid: dataclasses.replace(d, label=table[d.label])
                   for vid, d in records.dialogues.items()})


def check_features(value: Any, where: str, vid: Any,
                   num_utterances: int) -> np.ndarray:
    """One dialogue's features of one modality as float32 ``[N, D]``: one
    row per utterance, all finite."""
    try:
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"dtype {array.dtype}")
        source = array
        with np.errstate(over="ignore", invalid="ignore"):  # said below
            array = np.ascontiguousarray(array, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{where}: dialogue '{vid}': expected a numeric "
                        f"[utterances, width] array ({exc})") from None
    if array.ndim != 2:
        raise DataError(f"{where}: dialogue '{vid}': expected a 2-D "
                        f"[utterances, width] array, got shape "
                        f"{list(array.shape)}")
    if array.shape[0] != num_utterances:
        raise DataError(f"{where}: dialogue '{vid}' has {array.shape[0]} "
                        f"feature rows but {num_utterances} utterances; "
                        f"expected one row per utterance")
    finite = np.isfinite(array).all(axis=1)
    if not finite.all():
        i = int(np.flatnonzero(~finite)[0])
        if source.ndim == 2 and np.isfinite(source[i]).all():
            raise DataError(f"{where}: dialogue '{vid}', utterance {i}: "
                            f"features beyond the float32 range (|x| > "
                            f"3.4e38, e.g. {np.abs(source[i]).max():.3g}); "
                            f"expected finite float32 values")
        raise DataError(f"{where}: dialogue '{vid}', utterance {i}: NaN or "
                        f"infinite features; expected finite values")
    return array


def check_widths(dialogues: Dict[str, Dialogue],
                 where: Dict[str, str]) -> Dict[str, int]:
    """The width of every modality, the same in all dialogues."""
    dims: Dict[str, int] = {}
    first: Dict[str, str] = {}
    for vid, dialogue in dialogues.items():
        for m, array in dialogue.features.items():
            width = int(array.shape[1])
            if m not in dims:
                dims[m], first[m] = width, vid
            elif width != dims[m]:
                raise DataError(
                    f"{where[m]}: dialogue '{vid}' has width {width} but "
                    f"dialogue '{first[m]}' has {dims[m]}; expected the "
                    f"same width in every dialogue")
    return {m: dims[m] for m in MODALITIES if m in dims}


def _check_length(speakers: Any, where: str, vid: Any) -> int:
    if isinstance(speakers, (str, bytes)) or not hasattr(speakers,
                                                         "__len__"):
        raise DataError(f"{where}: dialogue '{vid}': expected a list of "
                        f"speakers, got {_type_name(speakers)}")
    if len(speakers) == 0:
        raise DataError(f"{where}: dialogue '{vid}' has no utterances; "
                        f"expected at least one")
    return len(speakers)


def _lookup(table: Mapping, vid: Any, where: str, what: str) -> Any:
    try:
        return table[vid]
    except KeyError:
        raise DataError(f"{where}: {what} has no entry for dialogue "
                        f"'{vid}'") from None


# Feature bundles --------------------------------------------------------------


def read_feature_bundle(path: PathLike) -> DialogueRecords:
    """Reads ``iemocap_multimodal_features.pkl`` or
    ``meld_multimodal_features.pkl``.

    IEMOCAP is recognised by its ``'M'``/``'F'`` speakers (``M = 0``,
    ``F = 1``), MELD by its one-hot speaker vectors (index = argmax); the
    class names are :data:`IEMOCAP_CLASSES` or :data:`MELD_CLASSES` (the
    published index order). Feature widths are whatever the
    file holds. The bundle has no validation split.
    """
    path = Path(path)
    where = str(path)
    bundle = safe_load(path)
    if not isinstance(bundle, (tuple, list)) or len(bundle) not in (12, 13):
        raise DataError(
            f"{where}: expected a tuple of 12 items ({', '.join(BUNDLE_FIELDS)}"
            f"; MELD: one more), got {_type_name(bundle)}")
    fields = dict(zip(BUNDLE_FIELDS, bundle))
    for name in BUNDLE_FIELDS[:10]:
        if not isinstance(fields[name], Mapping):
            raise DataError(f"{where}: {name}: expected a dict keyed by "
                            f"dialogue id, got {_type_name(fields[name])}")
        fields[name] = _by_id(fields[name], where, name)
    train_ids = _id_list(fields["trainVid"], where, "trainVid")
    test_ids = _id_list(fields["testVid"], where, "testVid")
    _check_splits(where, {"trainVid": train_ids, "testVid": test_ids})
    if not train_ids or not test_ids:
        raise DataError(f"{where}: expected non-empty trainVid and testVid, "
                        f"got {len(train_ids)} and {len(test_ids)} dialogues")

    speakers = fields["videoSpeakers"]
    first = _lookup(speakers, train_ids[0], where, "videoSpeakers")
    one_hot = (_check_length(first, where, train_ids[0]) > 0
               and not isinstance(first[0], str))
    name, classes = ("meld", MELD_CLASSES) if one_hot else \
        ("iemocap", IEMOCAP_CLASSES)

    dialogues = {}
    for vid in train_ids + test_ids:
        raw = _lookup(speakers, vid, where, "videoSpeakers")
        n = _check_length(raw, where, vid)
        speaker = (_one_hot_speakers(raw, where, vid) if one_hot else
                   _letter_speakers(raw, where, vid))
        label = check_labels(_lookup(fields["videoLabels"], vid, where,
                                     "videoLabels"), where, vid, n)
        features = {
            m: check_features(_lookup(fields[key], vid, where, key),
                              f"{where} ({key})", vid, n)
            for m, key in BUNDLE_MODALITIES.items()
        }
        dialogues[vid] = Dialogue(vid, speaker, label, features)

    records = DialogueRecords(
        name=name, source=where, classes=list(classes),
        modality_dims=check_widths(dialogues, {
            m: f"{where} ({key})" for m, key in BUNDLE_MODALITIES.items()}),
        num_speakers=MELD_NUM_SPEAKERS if one_hot else 2,
        speaker_vocab=None if one_hot else list(IEMOCAP_SPEAKERS),
        dialogues=dialogues, train_ids=train_ids, test_ids=test_ids,
        label_source=where,
        classes_source=f"{where} (a {name.upper()} feature bundle)")
    check_label_range(records, where)
    return records


def _letter_speakers(raw: Sequence, where: str, vid: Any) -> np.ndarray:
    codes = {s: i for i, s in enumerate(IEMOCAP_SPEAKERS)}
    try:
        return np.array([codes[s] for s in raw], dtype=np.int64)
    except (KeyError, TypeError):
        bad = next(s for s in raw if not isinstance(s, str) or s not in codes)
        raise DataError(f"{where} (videoSpeakers): dialogue '{vid}': "
                        f"speaker {bad!r}; expected 'M' or 'F'") from None


def _one_hot_speakers(raw: Sequence, where: str, vid: Any) -> np.ndarray:
    try:
        array = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        array = np.zeros(0)
    if array.ndim != 2 or array.shape[1] != MELD_NUM_SPEAKERS:
        raise DataError(f"{where} (videoSpeakers): dialogue '{vid}': "
                        f"expected one-hot speaker vectors of length "
                        f"{MELD_NUM_SPEAKERS}, got {_type_name(raw)}")
    return array.argmax(axis=1).astype(np.int64)


# Dialogue folders -----------------------------------------------------------


def read_dialogue_folder(path: PathLike,
                         max_speakers: int = 9) -> DialogueRecords:
    """Reads a dialogue folder (the output of ``dsgdn features``, or one
    written in its layout).

    Classes come from ``features.json`` when it names them; otherwise labels
    spanning exactly ``0..5`` get the IEMOCAP names and anything else
    ``class_0``, ``class_1``, ... Speakers share one vocabulary (in order of
    first appearance over the dialogues sorted by id) when there are at most
    :obj:`max_speakers` names; otherwise they are numbered per dialogue in
    order of first appearance and :obj:`speaker_vocab` is ``None``.
    """
    path = Path(path)
    if not path.is_dir():
        raise DataError(f"{path}: no such directory")
    pickles = sorted(path.glob("*.pkl"))
    if len(pickles) != 1:
        found = ", ".join(p.name for p in pickles) or "none"
        raise DataError(f"{path}: expected exactly one metadata .pkl file "
                        f"[speakers, labels, sentences, train_ids, test_ids, "
                        f"valid_ids], found {found}")
    meta_path = pickles[0]
    meta_where = str(meta_path)
    meta = safe_load(meta_path)
    if not isinstance(meta, (list, tuple)) or len(meta) != 6:
        raise DataError(f"{meta_where}: expected a list of 6 items "
                        f"[{', '.join(FOLDER_FIELDS)}], got "
                        f"{_type_name(meta)}")
    fields = dict(zip(FOLDER_FIELDS, meta))
    for name in FOLDER_FIELDS[:3]:
        if not isinstance(fields[name], Mapping):
            raise DataError(f"{meta_where}: {name}: expected a dict keyed by "
                            f"dialogue id, got {_type_name(fields[name])}")
        fields[name] = _by_id(fields[name], meta_where, name)
    splits = {name: _id_list(fields[name], meta_where, name)
              for name in FOLDER_FIELDS[3:]}
    _check_splits(meta_where, splits)
    if not splits["train_ids"] or not splits["test_ids"]:
        raise DataError(f"{meta_where}: expected non-empty train_ids and "
                        f"test_ids, got {len(splits['train_ids'])} and "
                        f"{len(splits['test_ids'])} dialogues")
    ids = sorted(v for ids in splits.values() for v in ids)

    info = _read_features_json(path / FEATURES_JSON)
    feature_files = _feature_files(path, info)

    raw_speakers, labels = {}, {}
    for vid in ids:
        raw = _lookup(fields["speakers"], vid, meta_where, "speakers")
        n = _check_length(raw, meta_where, vid)
        raw_speakers[vid] = _speaker_names(raw, meta_where, vid)
        labels[vid] = check_labels(
            _lookup(fields["labels"], vid, meta_where, "labels"),
            meta_where, vid, n)

    features: Dict[str, Dict[str, np.ndarray]] = {vid: {} for vid in ids}
    for m, file in feature_files.items():
        for vid, array in _read_npz(file, ids, raw_speakers,
                                    meta_path.name).items():
            features[vid][m] = array

    speaker, vocab, num_speakers = _number_speakers(raw_speakers, ids,
                                                    max_speakers)
    dialogues = {vid: Dialogue(vid, speaker[vid], labels[vid],
                               features[vid]) for vid in ids}
    classes = info.get("classes") or _default_classes(labels.values())
    declared = path / FEATURES_JSON if info.get("classes") else None
    records = DialogueRecords(
        name=path.resolve().name, source=str(path), classes=list(classes),
        modality_dims=check_widths(dialogues, {m: str(f) for m, f in
                                               feature_files.items()}),
        num_speakers=num_speakers, speaker_vocab=vocab, dialogues=dialogues,
        train_ids=splits["train_ids"], test_ids=splits["test_ids"],
        valid_ids=splits["valid_ids"] or None,
        extractors=info.get("modalities"), label_source=meta_where,
        classes_source=str(declared) if declared else None)
    check_label_range(records, meta_where)
    return records


def _read_features_json(path: Path) -> dict:
    """``{"classes": [...] | None, "modalities": {...}}`` or ``{}``."""
    if not path.exists():
        return {}
    try:
        info = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(info, dict):
        raise DataError(f"{path}: expected an object {{\"classes\": ..., "
                        f"\"modalities\": ...}}, got {_type_name(info)}")
    classes = info.get("classes")
    if classes is not None and (
            not isinstance(classes, list) or not classes
            or not all(isinstance(c, str) for c in classes)):
        raise DataError(f"{path}: classes: expected a non-empty list of "
                        f"class names or null, got {classes!r}")
    modalities = info.get("modalities")
    if modalities is not None and not isinstance(modalities, dict):
        raise DataError(f"{path}: modalities: expected an object, got "
                        f"{_type_name(modalities)}")
    return info


def _feature_files(path: Path, info: dict) -> Dict[str, Path]:
    """The ``.npz`` file of every modality present. When a modality has
    several, ``features.json`` must name the one to use (``{"modalities":
    {"text": {"file": "text_minilm.npz", ...}}}``)."""
    candidates: Dict[str, List[Path]] = {m: [] for m in MODALITIES}
    for file in sorted(path.glob("*.npz")):
        for m in MODALITIES:
            if file.name.startswith(m):
                candidates[m].append(file)
    named = info.get("modalities") or {}
    files = {}
    for m, found in candidates.items():
        if len(found) > 1:
            entry = named.get(m)
            choice = entry.get("file") if isinstance(entry, dict) else None
            found = [f for f in found if f.name == choice]
            if len(found) != 1:
                names = ", ".join(f.name for f in candidates[m])
                raise DataError(f"{path}: several {m} feature files ({names});"
                                f" expected one per modality")
        if found:
            files[m] = found[0]
    if not files:
        raise DataError(f"{path}: no feature files; expected at least one of "
                        f"text*.npz, audio*.npz, visual*.npz")
    return files


def _read_npz(file: Path, ids: List[str], speakers: Dict[str, list],
              meta_name: str) -> Dict[str, np.ndarray]:
    """One modality's features of the listed dialogues."""
    where = str(file)
    archive = open_npz(file)
    out = {}
    with archive:
        keys = set(archive.files)
        for vid in ids:
            if vid not in keys:
                raise DataError(f"{where}: no features for dialogue '{vid}' "
                                f"(listed in {meta_name})")
            try:
                array = npz_array(archive, vid)
            except (OSError, ValueError, EOFError, KeyError,
                    zipfile.BadZipFile) as exc:
                raise DataError(f"{where}: dialogue '{vid}': unreadable array "
                                f"({str(exc).splitlines()[0]})") from None
            out[vid] = check_features(array, where, vid, len(speakers[vid]))
    return out


def npz_array(archive: "np.lib.npyio.NpzFile", key: str) -> np.ndarray:
    """The array saved under :obj:`key`: the member ``<key>.npy``, as
    :func:`numpy.savez` names it. ``archive[key]`` reads a member named
    :obj:`key` first, which for a key ending in ``.npy`` is another key's
    array (the dialogues ``x`` and ``x.npy``)."""
    member = f"{key}.npy"
    try:
        archive.zip.getinfo(member)
    except KeyError:  # a member saved without the suffix
        member = key
    return archive[member]


def open_npz(file: PathLike) -> "np.lib.npyio.NpzFile":
    """Opens an ``.npz`` archive of arrays (no pickles), raising
    :class:`DataError` that says what the file is when it is none: missing,
    a directory or device, or bytes that are not a zip archive at all
    (``np.load`` would call those "pickled data")."""
    where = str(file)
    expected = "expected an .npz archive (a zip of .npy arrays)"
    problem = path_problem(Path(file))
    if problem:
        raise DataError(f"{where}: {problem}; {expected}")
    try:
        with open(file, "rb") as stream:
            head = stream.read(6)
        if head[:4] in NPZ_MAGIC:
            return np.load(file, allow_pickle=False)
        reason = ("it is a single .npy array" if head == b"\x93NUMPY" else
                  "it does not start like a zip archive")
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    raise DataError(f"{where}: not a valid .npz archive ({reason}); "
                    f"{expected}")


def _speaker_names(raw: Sequence, where: str, vid: Any) -> List[Hashable]:
    """Speaker names of one dialogue; one-hot vectors become their index."""
    names = []
    for s in raw:
        if isinstance(s, (list, tuple, np.ndarray)):
            s = int(np.argmax(np.asarray(s)))
        elif isinstance(s, np.generic):
            s = s.item()
        if not isinstance(s, (str, int)):
            raise DataError(f"{where}: dialogue '{vid}': speaker {s!r}; "
                            f"expected a name, an integer id or a one-hot "
                            f"vector")
        names.append(s)
    return names


def _number_speakers(raw: Dict[str, List[Hashable]], ids: List[str],
                     max_speakers: int):
    """Speaker codes per dialogue, the global vocabulary (or ``None``) and
    the size of the index space."""
    vocab: Dict[Hashable, int] = {}
    for vid in ids:
        for s in raw[vid]:
            vocab.setdefault(s, len(vocab))
    if len(vocab) <= max_speakers:
        codes = {vid: np.array([vocab[s] for s in raw[vid]], dtype=np.int64)
                 for vid in ids}
        return codes, [str(s) for s in vocab], len(vocab)
    codes = {}
    for vid in ids:
        local: Dict[Hashable, int] = {}
        codes[vid] = np.array([local.setdefault(s, len(local))
                               for s in raw[vid]], dtype=np.int64)
    return codes, None, max(int(c.max()) + 1 for c in codes.values())


def _default_classes(labels) -> List[str]:
    values = np.concatenate(list(labels))
    low, high = int(values.min()), int(values.max())
    if low == 0 and high == len(IEMOCAP_CLASSES) - 1:
        return list(IEMOCAP_CLASSES)
    return [f"class_{i}" for i in range(max(high, 0) + 1)]
