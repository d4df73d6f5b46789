"""The options of ``dsgdn train``, declared once.

:data:`TRAIN_OPTIONS` says, for each option, its setting's name (the field
of :class:`~dsgdn_pyg.training.session.TrainRequest`, or the key of its
``model_overrides`` / ``train_overrides``), its flag, type, default, help
and check. Everything else is read from it: the Typer parameters of ``dsgdn
train`` and of ``dsgdn experiment run`` (``dsgdn_pyg.cli.options``), the
options an experiment's base configuration and cells may set, the parser of
those options when they are written as command-line words, and the checks
that :func:`~dsgdn_pyg.training.session.settings` runs on a request.

A set of option values, ``{"window": 5, "modality_dropout": False}``, is a
configuration's *overrides*: what it changes of the default request.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import (Any, Callable, Dict, List, Mapping, Optional, Sequence,
                    Tuple, Union)
import shlex

from dsgdn_pyg.errors import SEED_MAX, check_device_name, check_number

INPUT_DIMS = ("preset", "data")
CLASSES = ("preset", "data")

#: Where an option's value goes in the request: a field of its own
#: (``request``), the model's or the recipe's overrides (``model``,
#: ``train``: ``None`` there is the preset's value), or where and how the
#: run is made (``run``: the seeds, the run directory, resume, overwrite;
#: no setting of an experiment).
PARTS = ("request", "model", "train", "run")


@dataclass(frozen=True)
class TrainOption:
    """One ``dsgdn train`` option."""
    key: str  # the setting's name, and the Typer parameter's
    flag: str
    type: type  # str, int, float, bool or Path, as the command line reads it
    default: Any
    help: str
    part: str = "request"
    #: Raises a one-line ``ValueError`` naming the flag for a bad value of
    #: the request (``check(flag, value)``); the options of the model and of
    #: the recipe are checked by their configurations instead.
    check: Optional[Callable[[str, Any], None]] = None
    #: A bool option with a ``--no-`` form.
    negatable: bool = False
    metavar: Optional[str] = None
    #: Whether an experiment's base configuration or cell may set it.
    sweep: bool = True
    #: Its help as an option of ``dsgdn experiment run`` itself (the others
    #: are taken there as extra words); its default there is ``None``, "as
    #: the base configuration leaves it".
    sweep_help: Optional[str] = None

    @property
    def value_type(self) -> type:
        """The type of the setting (a path is kept as its text)."""
        return str if self.type is Path else self.type

    @property
    def setting(self) -> str:
        """Its key among the values a request resolves to
        (:func:`~dsgdn_pyg.training.session.settings`)."""
        return {"seed": "seeds", "synthetic_dialogues": "synthetic"}.get(
            self.key, self.key)


def _one_of(choices: Sequence[str], shown: Callable[[Sequence[str]], str]
            ) -> Callable[[str, Any], None]:
    def check(flag: str, value) -> None:
        if value not in choices:
            raise ValueError(f"{flag}: expected one of {shown(choices)}, got "
                             f"{value!r}")
    return check


def _number(low=None, high=None, **kwargs) -> Callable[[str, Any], None]:
    return lambda flag, value: check_number(flag, value, low, high, **kwargs)


def _check_seeds(flag: str, seeds) -> None:
    if not seeds:
        raise ValueError(f"{flag}: expected at least one seed")
    for seed in seeds:
        check_number("--seed" if len(seeds) == 1 else flag, seed, 0,
                     SEED_MAX, integer=True)


TRAIN_OPTIONS: Tuple[TrainOption, ...] = (
    TrainOption(
        "data", "--data", Path, None,
        "Feature bundle (.pkl: iemocap_multimodal_features.pkl or "
        "meld_multimodal_features.pkl) or dialogue folder (metadata .pkl + "
        "text/audio/visual .npz, as `dsgdn features` writes). Default: the "
        "built-in synthetic dialogues.",
        sweep_help="As for `dsgdn train` (default: the built-in synthetic "
        "dialogues)."),
    TrainOption(
        "preset", "--preset", str, "iemocap",
        "Published configuration and recipe: iemocap or meld. Every option "
        "below defaults to it.",
        sweep_help="iemocap or meld (default: iemocap)."),
    TrainOption(
        "modalities", "--modalities", str, "tav",
        "Modalities to use: any non-empty subset of t, a, v.",
        sweep_help="Any subset of t, a, v (default: the preset's three)."),
    TrainOption(
        "epochs", "--epochs", int, None,
        "Training epochs (preset: 61 iemocap, 20 meld; 12 on the synthetic "
        "data).", part="train",
        sweep_help="Training epochs (default: the preset's recipe)."),
    TrainOption(
        "seed", "--seed", int, 0,
        "Random seed of the run (model init, batch order, dropout).",
        part="run"),
    TrainOption(
        "seeds", "--seeds", str, None,
        "Several seeds, e.g. 1,2,3: one run each, then mean and std (not "
        "with --seed).", part="run", check=_check_seeds),
    TrainOption("device", "--device", str, "auto", "auto, cpu or cuda.",
                check=check_device_name),
    TrainOption(
        "out", "--out", Path, None,
        "Run directory (default: runs/<data>-<modalities>-<time>). With "
        "several seeds, one sub-directory per seed.", part="run"),
    TrainOption(
        "lr", "--lr", float, None,
        "Adam learning rate (preset: 6.8e-5 / 5e-5; 1e-3 on the synthetic "
        "data).", part="train"),
    TrainOption(
        "weight_decay", "--weight-decay", float, None,
        "Adam weight decay (preset: 5e-5 / 7.5e-5).", part="train"),
    TrainOption(
        "batch_size", "--batch-size", int, None,
        "Dialogues per batch (preset: 16 / 64).", part="train"),
    TrainOption(
        "dropout", "--dropout", float, None,
        "Encoder and classifier dropout (preset: 0.5 / 0.11).",
        part="model"),
    TrainOption("hidden", "--hidden", int, None, "Hidden size d_h (512).",
                part="model"),
    TrainOption(
        "num_heads", "--num-heads", int, None,
        "Transformer heads of the audio/visual encoders (8).", part="model"),
    TrainOption(
        "graph_heads", "--heads", int, None,
        "Differential attention heads per DiffRGCN block (2).",
        part="model"),
    TrainOption(
        "graph_dropout", "--graph-dropout", float, None,
        "Dropout inside the DiffRGCN blocks (0.2).", part="model"),
    TrainOption(
        "window", "--window", int, None,
        "Dialogue graph window w (preset: 20 / 6).", part="train"),
    TrainOption(
        "graph_layer", "--graph-layer", str, "diff",
        "Graph layer: diff (DiffRGCN), gat, gcn, none (ablations) or dense "
        "(the dense-adjacency baseline).", part="model"),
    TrainOption(
        "modality_dropout", "--modality-dropout", bool, True,
        "Adaptive modality dropout after the warm-up.", part="model",
        negatable=True),
    TrainOption(
        "warm_up_epochs", "--warm-up", int, None,
        "Epochs before modality dropout starts (preset: 60 / 0; 6 on the "
        "synthetic data).", part="train"),
    TrainOption(
        "q_base", "--q-base", float, None,
        "Base modality drop probability (preset: 0.3 / 0.2).", part="model"),
    TrainOption(
        "q_lambda", "--q-lambda", float, None,
        "Scaling of the relative performance (0.9).", part="model"),
    TrainOption(
        "p_exe", "--p-exe", float, None,
        "Probability a batch gets modality dropout (preset: 0.5 / 0.2).",
        part="model"),
    TrainOption(
        "fusion_weights", "--fusion-weights", str, None,
        "Fixed weights of the modalities' logits in the fusion, e.g. "
        "t=0.8,v=0.1,a=0.1 (the paper's Sec. 6.7); default: the published "
        "plain sum.", part="model"),
    TrainOption(
        "class_weights", "--class-weights", bool, True,
        "Use class weights: the preset's (IEMOCAP inverse frequency) or, "
        "with --classes data, the training labels' inverse frequency. The "
        "choice is printed at the start.", negatable=True),
    TrainOption(
        "classes", "--classes", str, "preset",
        "Classes: 'preset' (the preset's; a label or class name of the data "
        "outside them is an error) or 'data' (the data's own, with class "
        "weights from the inverse frequency of the training labels unless "
        "--no-class-weights). The synthetic data always uses its own.",
        check=_one_of(CLASSES, ", ".join), sweep=False),
    TrainOption(
        "input_dims", "--input-dims", str, "preset",
        "Feature widths: 'preset' (widths must match the preset, else an "
        "error) or 'data' (take them from the data).",
        check=_one_of(INPUT_DIMS, repr),
        sweep_help="preset or data, as for `dsgdn train`."),
    TrainOption(
        "select_on", "--select-on", str, "valid",
        "Epoch selection: valid (honest) or test (the LEGACY protocol of the "
        "published code, labelled as such).", part="train"),
    TrainOption(
        "split_seed", "--split-seed", int, 0,
        "Seed of the carved validation split (when the data has no "
        "validation ids) and of the synthetic data.",
        check=_number(0, SEED_MAX, integer=True)),
    TrainOption(
        "valid_fraction", "--valid-fraction", float, 0.1,
        "Fraction of training dialogues carved for validation when the data "
        "has no validation ids.",
        check=_number(0, 1, low_open=True, high_open=True)),
    TrainOption(
        "synthetic_dialogues", "--synthetic-dialogues", int, None,
        "Number of built-in synthetic dialogues (48; at least 3: test, "
        "train and a carved validation dialogue) when --data is not given.",
        check=_number(3, integer=True)),
    TrainOption(
        "resume", "--resume", Path, None,
        "Carry on an interrupted run from its last finished epoch, with the "
        "options of its config.json (others given must agree; --device may "
        "change), after checking that its last.pt and best.pt are its own. "
        "The result equals the uninterrupted run's (best.pt byte for byte on "
        "CPU).", part="run", metavar="RUN_DIR"),
    TrainOption(
        "overwrite", "--overwrite", bool, False,
        "Replace the run already in --out, once the new run's data is read "
        "(a refused or interrupted start keeps it; without the option, a "
        "directory holding a run is refused).", part="run"),
)

#: The options by setting name.
OPTION: Dict[str, TrainOption] = {o.key: o for o in TRAIN_OPTIONS}
#: The default of every option (a model or recipe option's ``None``: the
#: preset's value).
DEFAULT: Dict[str, Any] = {o.key: o.default for o in TRAIN_OPTIONS}
#: The options an experiment's base configuration and cells may set, by
#: flag.
SWEEP_OPTIONS: Dict[str, TrainOption] = {
    o.flag: o for o in TRAIN_OPTIONS if o.sweep and o.part != "run"}

Words = Union[str, Sequence[str]]


def _unknown(what: str, token: str) -> ValueError:
    negatable = " and ".join(o.flag for o in SWEEP_OPTIONS.values()
                             if o.negatable)
    own = any(o.flag == token.partition("=")[0] for o in TRAIN_OPTIONS)
    return ValueError(
        f"{what} {token!r}: expected a `dsgdn train` option "
        + ("that is not each run's own (the seeds, run directory, resume "
           "and overwrite are the experiment's) " if own else "")
        + f"({', '.join(sorted(SWEEP_OPTIONS))}, --no-... for {negatable})")


def parse_options(words: Words, what: str = "option") -> dict:
    """Options written as command-line words, ``["--window", "5",
    "--no-modality-dropout"]`` (or the same as one shell-quoted string), as
    overrides: ``{"window": 5, "modality_dropout": False}``; a one-line
    error naming :obj:`what` for anything but the options of
    :data:`SWEEP_OPTIONS`."""
    if isinstance(words, str):
        words = shlex.split(words)
    words = list(words)
    values: dict = {}
    i = 0
    while i < len(words):
        word = words[i]
        name, sep, value = word.partition("=")
        negated = SWEEP_OPTIONS.get(f"--{name[5:]}") \
            if name.startswith("--no-") else None
        if negated is not None and negated.negatable and not sep:
            values[negated.key] = False
            i += 1
            continue
        if name not in SWEEP_OPTIONS:
            raise _unknown(what, word)
        option = SWEEP_OPTIONS[name]
        if option.type is bool:
            if sep:
                raise _unknown(what, word)
            values[option.key] = True
            i += 1
            continue
        if not sep:
            if i + 1 >= len(words):
                raise ValueError(f"{what} {name}: expected a value after it")
            value = words[i + 1]
            i += 1
        i += 1
        kind = option.value_type
        try:
            values[option.key] = kind(value)
        except ValueError:
            raise ValueError(f"{what} {name}: expected {kind.__name__}, got "
                             f"{value!r}") from None
    return values


def to_options(overrides: Mapping[str, Any]) -> List[str]:
    """The inverse of :func:`parse_options`: the words a ``dsgdn train``
    command line would take."""
    words: List[str] = []
    for key, value in overrides.items():
        flag = OPTION[key].flag
        if isinstance(value, bool):
            words.append(flag if value else f"--no-{flag[2:]}")
        else:
            words += [flag, str(value)]
    return words


def as_overrides(options: Union[Words, Mapping[str, Any]],
                 what: str = "option") -> dict:
    """A configuration's overrides, given as words (parsed once, here, by
    :func:`parse_options`) or already as a mapping of settings (a path kept
    as its text); a one-line error for an option an experiment cannot
    set."""
    if not isinstance(options, Mapping):
        return parse_options(options, what)
    settable = {o.key for o in SWEEP_OPTIONS.values()}
    unknown = sorted(set(options) - settable)
    if unknown:
        raise ValueError(f"settings: unknown {unknown}")
    return {key: str(value) if isinstance(value, Path) else value
            for key, value in options.items()}
