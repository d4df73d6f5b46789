"""The corpus ``dsgdn train`` consumes: dialogue graphs per split.

:func:`load_corpus` reads synthetic dialogues, a feature bundle (``.pkl``)
or a dialogue folder, builds every dialogue's graph once with
:func:`~dsgdn_pyg.data.build_dialogue_graph` and splits train / valid /
test. When the data has no validation ids of its own, a share of the
training dialogues (at least one) is carved out, chosen by the seed.
"""

import copy
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from sklearn.utils.class_weight import compute_class_weight
from torch_geometric.data import HeteroData

from dsgdn_pyg.data.dialogue_graph import (NODE_TYPE, build_dialogue_graph,
                                           check_window)
from dsgdn_pyg.data.readers import (MODALITIES, Dialogue, DialogueRecords,
                                    conform_classes, read_dialogue_folder,
                                    read_feature_bundle)
from dsgdn_pyg.data.synthetic import SyntheticConfig, synthetic_records
from dsgdn_pyg.errors import DataError
from dsgdn_pyg.io import check_corpus_path

VALID_SOURCES = ("dataset", "carved")
_MODALITY_CODES = {"t": "text", "a": "audio", "v": "visual"}


@dataclass
class DialogueCorpus:
    """Dialogue graphs of the train, valid and test splits, and what the
    model needs to know about them.

    Every graph has, on node type ``"utterance"``, one float32 ``[N, D]``
    attribute per modality (``text``, ``audio``, ``visual``), ``speaker``
    (long ``[N]``, below :obj:`num_speakers`) and ``y`` (long ``[N]``), the
    inter and intra edges of :obj:`window`, and the graph attribute
    ``dialogue_id``.
    """
    name: str
    source: Optional[str]
    classes: List[str]
    modality_dims: Dict[str, int]
    num_speakers: int
    speaker_vocab: Optional[List[str]]
    train: List[HeteroData]
    valid: List[HeteroData]
    test: List[HeteroData]
    valid_source: str
    window: int = 20
    extractors: Optional[dict] = None

    @property
    def where(self) -> str:
        """How errors name the data."""
        return self.source or "synthetic data"

    @property
    def modalities(self) -> Tuple[str, ...]:
        return tuple(self.modality_dims)

    def splits(self) -> Dict[str, List[HeteroData]]:
        return {"train": self.train, "valid": self.valid, "test": self.test}

    def inverse_frequency_weights(self) -> List[float]:
        """Class weights ``n / (C * n_c)`` from the training labels (the
        IEMOCAP preset's weights are the same inverse frequencies, up to a
        scale the loss divides out); a class with no training utterance gets
        0, as it is never a training target."""
        labels = torch.cat([g[NODE_TYPE].y for g in self.train]).numpy()
        present = np.unique(labels)
        weights = np.zeros(len(self.classes))
        weights[present] = compute_class_weight("balanced", classes=present,
                                                y=labels)
        return weights.tolist()

    def select_modalities(self, modalities: Union[str, Iterable[str]]
                          ) -> "DialogueCorpus":
        """A corpus with only :obj:`modalities` (names or the letters
        ``t``/``a``/``v``); the graphs share their tensors with this one."""
        keep = _modality_names(modalities)
        missing = [m for m in keep if m not in self.modality_dims]
        if missing:
            raise DataError(
                f"{self.where}: no '{missing[0]}' features (available: "
                f"{', '.join(self.modalities)})")
        drop = [m for m in self.modalities if m not in keep]
        if not drop:
            return dataclasses.replace(
                self, **{name: list(graphs)
                         for name, graphs in self.splits().items()})

        def strip(graph: HeteroData) -> HeteroData:
            out = copy.copy(graph)  # new stores, same tensors
            for m in drop:
                del out[NODE_TYPE][m]
            return out

        return dataclasses.replace(
            self, modality_dims={m: self.modality_dims[m] for m in keep},
            **{name: [strip(g) for g in graphs]
               for name, graphs in self.splits().items()})

    def check_dims(self, expected: Dict[str, int], expected_by: str,
                   advice: str = "use a matching preset or --input-dims data"
                   ) -> None:
        """Raises :class:`DataError` unless every modality of
        :obj:`expected` is present with the expected width.
        :obj:`expected_by` names who expects them in the message, e.g.
        ``"preset 'iemocap'"``, and :obj:`advice` what the user can do about
        a width that differs."""
        for m, dim in expected.items():
            if m not in self.modality_dims:
                raise DataError(
                    f"{self.where}: no '{m}' features, which {expected_by} "
                    f"needs (available: {', '.join(self.modalities)})")
            if self.modality_dims[m] != dim:
                raise DataError(
                    f"{self.where}: modality '{m}' has width "
                    f"{self.modality_dims[m]} but {expected_by} expects "
                    f"{dim} ({advice})")


def _modality_names(modalities: Union[str, Iterable[str]]) -> List[str]:
    items = list(modalities) if not isinstance(modalities, str) or \
        set(modalities) <= set(_MODALITY_CODES) else [modalities]
    names = [_MODALITY_CODES.get(m, m) for m in items]
    bad = [m for m in names if m not in MODALITIES]
    if bad or not names:
        raise ValueError(f"modalities: expected a non-empty subset of "
                         f"{', '.join(MODALITIES)}, got {modalities!r}")
    return [m for m in MODALITIES if m in names]


def dialogue_graph(dialogue: Dialogue, window: int) -> HeteroData:
    """The graph of one dialogue, its arrays shared, not copied."""
    graph = build_dialogue_graph(
        torch.from_numpy(dialogue.speaker), window,
        **{m: torch.from_numpy(x) for m, x in dialogue.features.items()},
        y=torch.from_numpy(dialogue.label))
    graph.dialogue_id = dialogue.id
    return graph


def carve_validation(train_ids: Sequence[str], fraction: float, seed: int,
                     where: str = "data") -> Tuple[List[str], List[str]]:
    """Splits :obj:`train_ids` into (train, valid): ``round(fraction * n)``
    dialogues (at least one) drawn by :obj:`seed`, both in the original
    order."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"valid_fraction: expected a value in (0, 1), got "
                         f"{fraction!r}")
    n = len(train_ids)
    if n < 2:
        raise DataError(f"{where}: {n} training dialogue(s); expected at "
                        f"least 2 to carve a validation split")
    count = min(n - 1, max(1, int(round(fraction * n))))
    chosen = set(np.random.default_rng(seed).permutation(n)[:count].tolist())
    return ([v for i, v in enumerate(train_ids) if i not in chosen],
            [v for i, v in enumerate(train_ids) if i in chosen])


def build_corpus(records: DialogueRecords, window: int = 20, seed: int = 0,
                 valid_fraction: float = 0.1) -> DialogueCorpus:
    """Builds every graph once and splits reader output into a corpus."""
    window = check_window(window)
    where = records.source or "synthetic data"
    if records.valid_ids:
        train_ids, valid_ids = list(records.train_ids), list(records.valid_ids)
        valid_source = "dataset"
    else:
        train_ids, valid_ids = carve_validation(records.train_ids,
                                                valid_fraction, seed, where)
        valid_source = "carved"

    def graphs(ids: List[str]) -> List[HeteroData]:
        return [dialogue_graph(records.dialogues[v], window) for v in ids]

    return DialogueCorpus(
        name=records.name, source=records.source,
        classes=list(records.classes),
        modality_dims=dict(records.modality_dims),
        num_speakers=records.num_speakers,
        speaker_vocab=records.speaker_vocab, train=graphs(train_ids),
        valid=graphs(valid_ids), test=graphs(list(records.test_ids)),
        valid_source=valid_source, window=window,
        extractors=records.extractors)


def read_records(data: Union[str, Path], max_speakers: int = 9
                 ) -> DialogueRecords:
    """A feature bundle (``.pkl`` file) or a dialogue folder."""
    path = Path(data)
    check_corpus_path(path)
    if path.is_dir():
        return read_dialogue_folder(path, max_speakers=max_speakers)
    return read_feature_bundle(path)


def load_corpus(data: Optional[Union[str, Path]] = None, window: int = 20,
                modalities: Optional[Union[str, Iterable[str]]] = None,
                seed: int = 0, valid_fraction: float = 0.1,
                synthetic_config: Optional[Union[SyntheticConfig,
                                                 dict]] = None,
                max_speakers: int = 9,
                classes: Optional[Sequence[str]] = None,
                classes_by: str = "the expected classes",
                classes_advice: str = "") -> DialogueCorpus:
    r"""Reads a corpus and builds its dialogue graphs.

    Args:
        data: ``None`` for the synthetic dialogues, a ``.pkl`` feature
            bundle or a dialogue folder.
        window: Dialogue graph window :math:`w`.
        modalities: Keep only these (default: all the data has).
        seed: Chooses the carved validation dialogues and, unless
            :obj:`synthetic_config` sets one, the synthetic data's seed.
        valid_fraction: Share of training dialogues carved for validation
            when the data has no validation ids.
        synthetic_config: A :class:`SyntheticConfig` or a dict of its fields.
        max_speakers: Largest speaker vocabulary of a dialogue folder kept
            global (more names are numbered per dialogue).
        classes: The classes the labels must index (e.g. a preset's, see
            :func:`~dsgdn_pyg.data.readers.conform_classes`, whose errors
            name :obj:`classes_by` and end in :obj:`classes_advice`);
            ``None``: the data's own.
    """
    if data is None:
        config = synthetic_config
        if not isinstance(config, SyntheticConfig):
            config = SyntheticConfig.from_dict(config, seed=seed)
        records = synthetic_records(config)
    else:
        records = read_records(data, max_speakers=max_speakers)
    if classes is not None:
        records = conform_classes(records, classes, classes_by,
                                  classes_advice)
    corpus = build_corpus(records, window, seed, valid_fraction)
    if modalities is not None:
        corpus = corpus.select_modalities(modalities)
    return corpus


def rebuild_graphs(corpus: DialogueCorpus, window: int) -> DialogueCorpus:
    """The corpus with every graph rebuilt for another :obj:`window`
    (node tensors shared, nothing re-read)."""
    window = check_window(window)

    def rebuild(graph: HeteroData) -> HeteroData:
        store = graph[NODE_TYPE]
        out = build_dialogue_graph(
            store.speaker, window,
            **{m: store[m] for m in corpus.modalities}, y=store.y)
        out.dialogue_id = graph.dialogue_id
        return out

    return dataclasses.replace(
        corpus, window=window,
        **{name: [rebuild(g) for g in graphs]
           for name, graphs in corpus.splits().items()})
