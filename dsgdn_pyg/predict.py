"""Emotion predictions for raw dialogues with a trained run.

:class:`Predictor` reloads a run's best checkpoint, computes the features a
manifest lacks with the extractors the checkpoint was trained on (as recorded
from the training data's ``features.json``), builds the dialogue graphs with
the run's window and returns, per utterance, the predicted emotion and the
class probabilities.
"""

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import (Dict, Iterable, List, Optional, Sequence, Set, Tuple,
                    Union)

import numpy as np
import torch
from torch_geometric.loader import DataLoader

from dsgdn_pyg.data.dialogue_graph import build_dialogue_graph
from dsgdn_pyg.data.readers import npz_array
from dsgdn_pyg.errors import DataError
from dsgdn_pyg.features.extract import ProgressHook, extract_features
from dsgdn_pyg.features.manifest import (Dialogue, location, read_manifest)
from dsgdn_pyg.features.store import npz_name
from dsgdn_pyg.io import atomic_write_text, to_json
from dsgdn_pyg.prediction_outputs import (CACHE_MARK,  # noqa: F401
                                          check_feature_cache,
                                          check_prediction_outputs)
from dsgdn_pyg.training.runs import load_model
from dsgdn_pyg.training.device import to_device

PathLike = Union[str, os.PathLike]
DialogueInput = Union[PathLike, Sequence[dict]]


@dataclass
class UtterancePrediction:
    """The model's answer for one utterance."""
    dialogue_id: str
    index: int
    speaker: str
    text: str
    emotion: str
    probabilities: Dict[str, float]
    label: Optional[str] = None
    #: The speaker is not in the checkpoint's speaker vocabulary, so the
    #: model saw it under a free id (see :meth:`Predictor.predict`).
    unseen_speaker: bool = False

    def to_dict(self) -> dict:
        out = dict(dialogue_id=self.dialogue_id, utterance=self.index,
                   speaker=self.speaker, text=self.text,
                   emotion=self.emotion, probabilities=self.probabilities)
        if self.label is not None:
            out["label"] = self.label
        return out


class Predictor:
    r"""Runs a trained AMB-DSGDN on new dialogues.

    Example::

        predictor = Predictor.from_run("runs/my-run")
        for p in predictor.predict("dialogues.jsonl"):
            print(p.dialogue_id, p.index, p.emotion)

    Args:
        model: The trained model (eval mode).
        config: The run's configuration (``model``, ``train``, ``data``).
        text_model: sentence-transformers model (name or folder) for the
            text features, instead of the one the checkpoint records (e.g. a
            local copy of that model); another model gives features the
            checkpoint was not trained on.
    """

    def __init__(self, model, config: dict,
                 text_model: Optional[str] = None):
        self.model = model.eval()
        self.config = config
        self.device = next(model.parameters()).device
        self.text_device = str(self.device)
        self.modalities = tuple(config["model"]["input_dims"])
        self.input_dims = dict(config["model"]["input_dims"])
        self.classes = list(config["data"]["classes"])
        self.window = int(config["train"]["window"])
        self.speaker_vocab = config["data"].get("speaker_vocab")
        self.num_speakers = int(config["model"]["num_speakers"])
        self.extractors = dict(config["data"].get("extractors") or {})
        #: The text model the checkpoint records (``None`` if none).
        self.recorded_text_model = self.extractors.get("text", {}).get(
            "model")
        self.text_model = text_model or self.recorded_text_model
        #: The run directory, when loaded by :meth:`from_run`.
        self.run_dir: Optional[Path] = None

    @classmethod
    def from_run(cls, run_dir: PathLike, device: str = "cpu",
                 text_model: Optional[str] = None) -> "Predictor":
        """Loads the best checkpoint of a run directory."""
        model, config = load_model(run_dir, device)
        predictor = cls(model, config, text_model=text_model)
        predictor.run_dir = Path(run_dir)
        return predictor

    def predict(self, dialogues: DialogueInput,
                features_dir: Optional[PathLike] = None,
                progress: Optional[ProgressHook] = None,
                batch_size: int = 16) -> List[UtterancePrediction]:
        """Predictions for every utterance, in manifest order.

        Args:
            dialogues: A JSON Lines manifest path, or dialogue dicts in the
                manifest's format (relative paths resolved from the working
                directory).
            features_dir: A cache of this method's own, where each
                dialogue's computed features are kept for later calls (see
                :func:`check_feature_cache`: a new folder, or one an earlier
                call filled; any other folder, a feature folder of ``dsgdn
                features`` included, is refused, never rewritten). Default:
                no cache kept.
            progress: Progress hook of the feature extraction.
            batch_size: Dialogues per forward pass.

        Speakers keep the ids of the checkpoint's speaker vocabulary; those
        not in it take, in order of first appearance, the lowest ids the
        dialogue's known speakers leave free (their predictions have
        :attr:`~UtterancePrediction.unseen_speaker` set). A checkpoint
        without a vocabulary numbers each dialogue's speakers in order of
        first appearance, as in training.
        """
        self._check_trained_on_features()
        if features_dir is not None:
            check_feature_cache(features_dir)
        with tempfile.TemporaryDirectory(prefix="dsgdn-predict-") as tmp:
            manifest = (Path(dialogues) if isinstance(dialogues,
                                                      (str, os.PathLike))
                        else _write_manifest(dialogues, Path(tmp)))
            parsed = read_manifest(manifest)
            if features_dir is not None:
                _mark_feature_cache(Path(features_dir))
            arrays = self._features(manifest, parsed, Path(tmp) / "feat",
                                    progress, features_dir)
            speakers = [self._speakers(d, str(manifest)) for d in parsed]
            graphs = [self._graph(d, arrays, ids)
                      for d, (ids, _) in zip(parsed, speakers)]
            probs = self._probabilities(graphs, batch_size)
            self._check_finite(parsed, probs, str(manifest))
        return self._predictions(parsed, probs,
                                 [unseen for _, unseen in speakers])

    def _check_trained_on_features(self) -> None:
        data = self.config["data"]
        if data.get("name") == "synthetic" and data.get("source") is None:
            raise DataError(
                f"{self.run_dir or 'the checkpoint'}: trained on the "
                f"built-in synthetic dialogues, whose features come from no "
                f"extractor, so it cannot predict from raw dialogues; train "
                f"on a folder written by `dsgdn features` (dsgdn train "
                f"--data FOLDER)")

    def _features(self, manifest: Path, dialogues: List[Dialogue],
                  out: Path, progress, cache_dir: Optional[PathLike] = None
                  ) -> Dict[str, Dict[str, np.ndarray]]:
        if "text" in self.modalities and not self.text_model:
            raise DataError(
                f"{manifest}: the checkpoint records no text extractor (its "
                f"training data had no features.json); pass --text-model "
                f"with the sentence-transformers model it was trained with")
        extract_features(manifest, out, modalities=self.modalities,
                         text_model=self.text_model or "",
                         visual_dim=self.input_dims.get("visual", 342),
                         device=self.text_device, progress=progress,
                         classes=self._label_classes(dialogues),
                         cache_dir=cache_dir)
        arrays = {}
        for m in self.modalities:
            with np.load(out / npz_name(m), allow_pickle=False) as npz:
                arrays[m] = {d.dialogue_id: npz_array(npz, d.dialogue_id)
                             for d in dialogues}
            width = next(iter(arrays[m].values())).shape[1]
            if width != self.input_dims[m]:
                raise DataError(
                    f"{manifest}: the {m} features are {width}-d but the "
                    f"checkpoint expects {self.input_dims[m]}-d (extractor "
                    f"{self.extractors.get(m, 'unknown')})")
        return arrays

    def _label_classes(self, dialogues: List[Dialogue]):
        """The checkpoint's classes when the manifest has labels: names
        must be among them and indices below their number (checked before
        any feature is computed)."""
        labelled = any(u.label is not None for d in dialogues
                       for u in d.utterances)
        return self.classes if labelled else None

    def _speakers(self, d: Dialogue, source: str
                  ) -> Tuple[torch.Tensor, Set[str]]:
        """The speaker id of each utterance, and the names not in the
        checkpoint's vocabulary."""
        names = [u.speaker for u in d.utterances]
        order = list(dict.fromkeys(names))
        if len(order) > self.num_speakers:
            raise DataError(
                f"{location(source, d.dialogue_id)}: {len(order)} speakers "
                f"but the checkpoint knows at most {self.num_speakers}")
        if not self.speaker_vocab:
            ids = {n: i for i, n in enumerate(order)}
            return torch.tensor([ids[n] for n in names]), set()
        ids = {n: self.speaker_vocab.index(n) for n in order
               if n in self.speaker_vocab}
        unseen = [n for n in order if n not in ids]
        free = [i for i in range(self.num_speakers)
                if i not in ids.values()]
        ids.update(zip(unseen, free))
        return torch.tensor([ids[n] for n in names]), set(unseen)

    def _graph(self, d: Dialogue, arrays, speakers: torch.Tensor):
        feats = {m: torch.from_numpy(arrays[m][d.dialogue_id]).float()
                 for m in self.modalities}
        return build_dialogue_graph(speakers, self.window, **feats)

    @torch.no_grad()
    def _probabilities(self, graphs, batch_size: int) -> np.ndarray:
        """Class probabilities, one row per utterance in order."""
        probs = []
        for batch in DataLoader(graphs, batch_size=batch_size):
            batch = to_device(batch, self.device)
            probs.append(self.model(batch).log_probs.exp())
        return torch.cat(probs).cpu().numpy() if probs else np.zeros((0, 0))

    def _check_finite(self, dialogues: List[Dialogue], probs: np.ndarray,
                      source: str) -> None:
        """Refuses the first dialogue with a NaN or infinite output."""
        row = 0
        for d in dialogues:
            n = len(d.utterances)
            if not np.isfinite(probs[row:row + n]).all():
                raise DataError(
                    f"{location(source, d.dialogue_id)}: the model's outputs "
                    f"are NaN or infinite: its features are out of range "
                    f"(e.g. huge values); expected features like those the "
                    f"checkpoint was trained on")
            row += n

    def _predictions(self, dialogues: List[Dialogue], probs: np.ndarray,
                     unseen: List[Set[str]]) -> List[UtterancePrediction]:
        out, row = [], 0
        for d, names in zip(dialogues, unseen):
            for i, u in enumerate(d.utterances):
                p = probs[row]
                row += 1
                label = u.label if isinstance(u.label, str) or u.label is None \
                    else self.classes[u.label]
                out.append(UtterancePrediction(
                    dialogue_id=d.dialogue_id, index=i, speaker=u.speaker,
                    text=u.text, emotion=self.classes[int(p.argmax())],
                    probabilities={c: float(v)
                                   for c, v in zip(self.classes, p)},
                    label=label, unseen_speaker=u.speaker in names))
        return out


def _mark_feature_cache(folder: Path) -> None:
    """Marks :obj:`folder` as a feature cache before its first entry."""
    if not (folder / CACHE_MARK).is_file():
        atomic_write_text(folder / CACHE_MARK, json.dumps({
            "written_by": "dsgdn predict",
            "holds": "per-dialogue feature arrays, <modality>/<key>.npy"})
            + "\n")


def _write_manifest(dialogues: Iterable[dict], folder: Path) -> Path:
    """Dialogue dicts as a manifest file, paths made absolute from the
    working directory."""
    path = folder / "dialogues.jsonl"
    lines = []
    for d in dialogues:
        d = dict(d)
        if isinstance(d.get("utterances"), list):
            d["utterances"] = [_absolute(u) for u in d["utterances"]]
        lines.append(json.dumps(d))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _absolute(utterance):
    if not isinstance(utterance, dict):
        return utterance
    utterance = dict(utterance)
    for key in ("audio", "visual"):
        if isinstance(utterance.get(key), str):
            utterance[key] = str(Path(utterance[key]).resolve())
    return utterance


def write_predictions(path: PathLike,
                      predictions: Sequence[UtterancePrediction]) -> None:
    """One strict JSON line per utterance, written atomically."""
    atomic_write_text(Path(path), "".join(to_json(p.to_dict()) + "\n"
                                          for p in predictions))
