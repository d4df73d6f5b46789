"""Synthetic IEMOCAP-shaped dialogues, and the same data in the on-disk
formats the readers take.

Labels depend on context and speaker: every speaker has an emotional state
that persists between their own turns with probability
:obj:`persistence`; otherwise it is pulled to the last emotion another
speaker expressed with probability :obj:`contagion`, else drawn afresh. So
the neighbours of an utterance in the dialogue graph inform its label.

Features of modality ``m`` are ``signal[m] * separation * u_m[y] + noise *
N(0, I)`` with ``u_m`` a fixed random unit direction per class (drawn from
the seed, per modality). A fraction :obj:`ambiguous` of utterances carry
the mean of their own and another class's direction in every modality, so
only context can resolve them. With the default signals text dominates,
audio is weaker and visual weaker still.
"""

import json
import pickle
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Dict, List, Optional, Union

import numpy as np

from dsgdn_pyg.data.readers import (IEMOCAP_CLASSES, IEMOCAP_SPEAKERS,
                                    MELD_NUM_SPEAKERS, MODALITIES, Dialogue,
                                    DialogueRecords)

# IEMOCAP's class frequencies (its training split, as in the preset's class
# weights): the prior of freshly drawn emotions
# when there are 6 classes, so the preset's class weights fit.
IEMOCAP_CLASS_PRIOR = (0.086747, 0.144406, 0.227883, 0.160585, 0.127711,
                       0.252668)


def _default_dims() -> Dict[str, int]:
    return {"text": 1024, "audio": 1582, "visual": 342}


def _default_signal() -> Dict[str, float]:
    return {"text": 1.0, "audio": 0.5, "visual": 0.35}


@dataclass
class SyntheticConfig:
    """Size, difficulty and seed of the synthetic dialogues.

    Args:
        num_dialogues: Dialogues in total (train + test).
        min_len, max_len: Utterances per dialogue, drawn uniformly.
        num_classes: Emotion classes (6: IEMOCAP names and frequencies).
        num_speakers: Speakers per dialogue.
        dims: Feature width per modality (a subset of text/audio/visual).
        signal: Strength of the class signal per modality.
        noise: Standard deviation of the Gaussian noise.
        test_fraction: Share of dialogues in the test split.
        seed: Everything is a deterministic function of it.
        persistence: Probability a speaker keeps their previous emotion.
        contagion: Otherwise, probability of taking the last emotion
            another speaker expressed.
        turn_switch: Probability the next utterance has another speaker.
        ambiguous: Share of utterances whose features sit halfway between
            their class and another one.
        separation: Distance of the class means from the origin at
            :obj:`signal` 1, in units of :obj:`noise`.
    """
    num_dialogues: int = 48
    min_len: int = 12
    max_len: int = 36
    num_classes: int = 6
    num_speakers: int = 2
    dims: Dict[str, int] = field(default_factory=_default_dims)
    signal: Dict[str, float] = field(default_factory=_default_signal)
    noise: float = 1.0
    test_fraction: float = 0.2
    seed: int = 0
    persistence: float = 0.8
    contagion: float = 0.5
    turn_switch: float = 0.75
    ambiguous: float = 0.2
    separation: float = 3.0

    def __post_init__(self):
        def fail(what: str, got) -> None:
            raise ValueError(f"SyntheticConfig: {what}, got {got!r}")

        if self.num_dialogues < 3:
            fail("num_dialogues: expected at least 3 (test, train and a "
                 "carved validation dialogue)", self.num_dialogues)
        if not 1 <= self.min_len <= self.max_len:
            fail("min_len, max_len: expected 1 <= min_len <= max_len",
                 (self.min_len, self.max_len))
        if self.num_classes < 2:
            fail("num_classes: expected at least 2", self.num_classes)
        if self.num_speakers < 1:
            fail("num_speakers: expected at least 1", self.num_speakers)
        dims = dict(self.dims)
        if not dims or not set(dims) <= set(MODALITIES) or any(
                int(d) != d or d < 1 for d in dims.values()):
            fail("dims: expected positive widths for a non-empty subset of "
                 "text, audio, visual", self.dims)
        missing = [m for m in dims if m not in self.signal]
        if missing:
            fail(f"signal: expected a strength for {', '.join(missing)}",
                 self.signal)
        self.dims = {m: int(dims[m]) for m in MODALITIES if m in dims}
        self.signal = {m: float(self.signal[m]) for m in self.dims}
        for name in ("test_fraction", "persistence", "contagion",
                     "turn_switch", "ambiguous"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                fail(f"{name}: expected a probability in [0, 1]",
                     getattr(self, name))
        if not 0.0 < self.test_fraction < 1.0:
            fail("test_fraction: expected a value in (0, 1)",
                 self.test_fraction)
        if self.noise < 0 or self.separation < 0:
            fail("noise, separation: expected non-negative values",
                 (self.noise, self.separation))

    @classmethod
    def from_dict(cls, values: Optional[dict] = None,
                  **defaults) -> "SyntheticConfig":
        """A config from a (JSON) dict; :obj:`defaults` fill the fields the
        dict leaves out."""
        values = {**defaults, **(values or {})}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"SyntheticConfig: unknown field(s) "
                             f"{', '.join(unknown)}; expected some of "
                             f"{', '.join(sorted(known))}")
        return cls(**values)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def classes(self) -> List[str]:
        if self.num_classes == len(IEMOCAP_CLASSES):
            return list(IEMOCAP_CLASSES)
        return [f"class_{i}" for i in range(self.num_classes)]


def _class_prior(num_classes: int) -> np.ndarray:
    if num_classes == len(IEMOCAP_CLASS_PRIOR):
        prior = np.asarray(IEMOCAP_CLASS_PRIOR)
    else:
        prior = np.ones(num_classes)
    return prior / prior.sum()


def _dialogue_structure(config: SyntheticConfig, rng: np.random.Generator):
    """Lengths ``[B]``, speakers and labels ``[B, max_len]`` of all
    dialogues, one step at a time over the whole batch (-1 past the end)."""
    B, T, S = config.num_dialogues, config.max_len, config.num_speakers
    lengths = rng.integers(config.min_len, config.max_len + 1, size=B)
    prior = _class_prior(config.num_classes)

    # A switch moves to one of the other S - 1 speakers, uniformly.
    switch = rng.random((B, T)) < config.turn_switch
    step = rng.integers(1, max(S, 2), size=(B, T)) * (switch & (S > 1))
    step[:, 0] = rng.integers(0, S, size=B)  # the first speaker
    speaker = np.cumsum(step, axis=1) % S

    keep_own = rng.random((B, T)) < config.persistence
    follow = rng.random((B, T)) < config.contagion
    fresh = rng.choice(config.num_classes, size=(B, T), p=prior)

    rows = np.arange(B)
    state = np.full((B, S), -1)  # each speaker's last emotion
    said_at = np.full((B, S), -1)  # when each speaker last spoke
    label = np.empty((B, T), dtype=np.int64)
    for t in range(T):
        s = speaker[:, t]
        own = state[rows, s]
        others = np.where(np.arange(S)[None, :] == s[:, None], -1, said_at)
        latest = others.argmax(axis=1)
        other = np.where(others[rows, latest] >= 0, state[rows, latest], -1)
        y = np.where((own >= 0) & keep_own[:, t], own,
                     np.where((other >= 0) & follow[:, t], other,
                              fresh[:, t]))
        label[:, t] = y
        state[rows, s] = y
        said_at[rows, s] = t
    past_end = np.arange(T)[None, :] >= lengths[:, None]
    speaker[past_end] = -1
    label[past_end] = -1
    return lengths, speaker.astype(np.int64), label


def make_synthetic_dialogues(config: Optional[SyntheticConfig] = None
                             ) -> dict:
    """Generates the dialogues of :obj:`config` (bit-identical for a seed).

    Returns:
        A dict with ``"classes"``, ``"speakers"`` and ``"labels"``
        (``{id: int64 [N]}``), ``"features"``
        (``{modality: {id: float32 [N, D]}}``), ``"train_ids"`` and
        ``"test_ids"``.
    """
    config = config or SyntheticConfig()
    rng = np.random.default_rng([config.seed, 0])
    lengths, speaker, label = _dialogue_structure(config, rng)
    valid = speaker >= 0
    y = label[valid]  # all utterances, dialogue by dialogue
    num = y.shape[0]
    ambiguous = rng.random(num) < config.ambiguous
    other = (y + rng.integers(1, config.num_classes, size=num)) \
        % config.num_classes

    features = {}
    for m, dim in config.dims.items():
        mrng = np.random.default_rng([config.seed, 1 + MODALITIES.index(m)])
        direction = mrng.standard_normal((config.num_classes, dim))
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        mean = np.where(ambiguous[:, None],
                        0.5 * (direction[y] + direction[other]), direction[y])
        x = mrng.standard_normal((num, dim), dtype=np.float32)
        x *= np.float32(config.noise)
        x += (config.signal[m] * config.separation * mean).astype(np.float32)
        features[m] = x

    ids = [f"synthetic_{b:03d}" for b in range(config.num_dialogues)]
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    out = dict(classes=config.classes, speakers={}, labels={},
               features={m: {} for m in features})
    for b, vid in enumerate(ids):
        n = lengths[b]
        out["speakers"][vid] = speaker[b, :n].copy()
        out["labels"][vid] = label[b, :n].copy()
        for m, x in features.items():
            out["features"][m][vid] = x[bounds[b]:bounds[b + 1]].copy()

    num_test = max(1, int(round(config.test_fraction * len(ids))))
    test = set(rng.permutation(len(ids))[:num_test].tolist())
    out["train_ids"] = [v for i, v in enumerate(ids) if i not in test]
    out["test_ids"] = [v for i, v in enumerate(ids) if i in test]
    return out


def synthetic_records(config: Optional[SyntheticConfig] = None
                      ) -> DialogueRecords:
    """The synthetic dialogues as reader output (no own validation ids)."""
    config = config or SyntheticConfig()
    made = make_synthetic_dialogues(config)
    dialogues = {
        vid: Dialogue(vid, made["speakers"][vid], made["labels"][vid],
                      {m: made["features"][m][vid] for m in config.dims})
        for vid in made["train_ids"] + made["test_ids"]
    }
    return DialogueRecords(
        name="synthetic", source=None, classes=made["classes"],
        modality_dims=dict(config.dims), num_speakers=config.num_speakers,
        speaker_vocab=None, dialogues=dialogues,
        train_ids=made["train_ids"], test_ids=made["test_ids"],
        classes_source="synthetic data")


# The same data on disk ------------------------------------------------------

TINY_DIMS = {"text": 8, "audio": 6, "visual": 4}


def make_feature_bundle(kind: str = "iemocap", num_dialogues: int = 8,
                        dims: Optional[Dict[str, int]] = None,
                        seed: int = 0) -> tuple:
    """A small feature bundle (the layout of the published IEMOCAP and MELD
    bundles, see :func:`~dsgdn_pyg.data.readers.read_feature_bundle`) of
    synthetic dialogues, as the tuple
    the pickle holds: IEMOCAP with ``'M'``/``'F'`` speakers and 12 items,
    MELD with one-hot speakers of length 9, 7 classes and 13 items. Text is
    stored as ``[N, D]`` arrays, audio and visual as lists of rows (both
    occur in the published bundles)."""
    if kind not in ("iemocap", "meld"):
        raise ValueError(f"kind: expected 'iemocap' or 'meld', got {kind!r}")
    meld = kind == "meld"
    dims = dict(dims or TINY_DIMS)
    config = SyntheticConfig(
        num_dialogues=num_dialogues, min_len=3, max_len=9,
        num_classes=7 if meld else 6, num_speakers=3 if meld else 2,
        dims=dims, signal={m: 1.0 for m in dims}, seed=seed)
    made = make_synthetic_dialogues(config)
    ids = made["train_ids"] + made["test_ids"]
    if meld:
        speakers = {v: np.eye(MELD_NUM_SPEAKERS)[made["speakers"][v]].tolist()
                    for v in ids}
    else:
        speakers = {v: [IEMOCAP_SPEAKERS[s] for s in made["speakers"][v]]
                    for v in ids}
    labels = {v: made["labels"][v].tolist() for v in ids}
    text = made["features"]["text"]
    audio = {v: list(a) for v, a in made["features"]["audio"].items()}
    visual = {v: list(a) for v, a in made["features"]["visual"].items()}
    sentences = {v: [f"utterance {i}" for i in range(len(labels[v]))]
                 for v in ids}
    bundle = ({v: v for v in ids}, speakers, labels, text, text, text, text,
              audio, visual, sentences, list(made["train_ids"]),
              set(made["test_ids"]))
    return bundle + ({},) if meld else bundle


def write_feature_bundle(path: Union[str, Path], kind: str = "iemocap",
                         **kwargs) -> Path:
    """Pickles :func:`make_feature_bundle` to :obj:`path` and returns it."""
    path = Path(path)
    path.write_bytes(pickle.dumps(make_feature_bundle(kind, **kwargs),
                                  protocol=2))
    return path


def write_dialogue_folder(path: Union[str, Path], num_dialogues: int = 8,
                          dims: Optional[Dict[str, int]] = None,
                          seed: int = 0, valid_ids: bool = True,
                          classes: Optional[List[str]] = None,
                          metadata_name: str = "dialogues.pkl") -> Path:
    """Writes synthetic dialogues as a dialogue folder: ``metadata_name``
    (``[speakers, labels, sentences, train_ids, test_ids, valid_ids]`` with
    ``'M'``/``'F'`` speakers), one ``<modality>.npz`` per modality of
    :obj:`dims` and, with :obj:`classes`, a ``features.json``. With
    :obj:`valid_ids` the last training dialogue is the validation split."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    dims = dict(dims or TINY_DIMS)
    made = make_synthetic_dialogues(SyntheticConfig(
        num_dialogues=num_dialogues, min_len=3, max_len=9, dims=dims,
        signal={m: 1.0 for m in dims}, seed=seed))
    ids = made["train_ids"] + made["test_ids"]
    train = made["train_ids"]
    valid = train[-1:] if valid_ids else []
    train = train[:len(train) - len(valid)]
    meta = [{v: [IEMOCAP_SPEAKERS[s] for s in made["speakers"][v]]
             for v in ids},
            {v: made["labels"][v].tolist() for v in ids},
            {v: [f"utterance {i}" for i in range(len(made["labels"][v]))]
             for v in ids},
            train, made["test_ids"], valid]
    (path / metadata_name).write_bytes(pickle.dumps(meta))
    for m, per_dialogue in made["features"].items():
        np.savez(path / f"{m}.npz", **per_dialogue)
    if classes is not None:
        (path / "features.json").write_text(json.dumps(
            {"classes": list(classes), "modalities": {
                m: {"file": f"{m}.npz", "dim": d} for m, d in dims.items()}}))
    return path
