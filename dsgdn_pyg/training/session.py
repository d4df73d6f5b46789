"""One ``dsgdn train`` invocation: data, configurations, seeds, summary.

Kept in the library (not the CLI) so that scripts get the same behaviour as
the command line.
"""

import contextlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, List, Optional, Sequence

from dsgdn_pyg import __version__
from dsgdn_pyg.data.readers import CLASSES_ADVICE, PRESET_CLASSES
from dsgdn_pyg.errors import SEED_MAX, DataError, check_number
from dsgdn_pyg.models.amb_dsgdn import (ModelConfig, parse_modalities,
                                        preset_config)
from dsgdn_pyg.training import lock
from dsgdn_pyg.training import run_dir as files
from dsgdn_pyg.training.checkpoint import check_finished
from dsgdn_pyg.training.config import recipe_config
from dsgdn_pyg.training.device import resolve_device
from dsgdn_pyg.training.report import RunResult, load_result, summarize
from dsgdn_pyg.training.trainer import TrainCallback, train_run

INPUT_DIMS = ("preset", "data")
CLASSES = ("preset", "data")


@dataclass
class TrainRequest:
    """Everything ``dsgdn train`` was asked for. :obj:`resume` carries on
    the interrupted run in :obj:`out`; :obj:`overwrite` clears a finished
    or abandoned one there first."""
    data: Optional[str] = None
    preset: str = "iemocap"
    modalities: str = "tav"
    seeds: List[int] = field(default_factory=lambda: [0])
    device: str = "auto"
    out: Optional[Path] = None
    input_dims: str = "preset"
    split_seed: int = 0
    valid_fraction: float = 0.1
    class_weights: bool = True
    classes: str = "preset"
    synthetic: Optional[dict] = None
    model_overrides: dict = field(default_factory=dict)
    train_overrides: dict = field(default_factory=dict)
    resume: bool = False
    overwrite: bool = False

    def to_dict(self) -> dict:
        """What ``config.json`` records (``out``, ``device`` and the two
        flags are where and how, not what, so a resume may change them)."""
        values = asdict(self)
        for key in ("out", "resume", "overwrite"):
            values.pop(key)
        return values

    @classmethod
    def from_dict(cls, values: dict, **changes) -> "TrainRequest":
        return cls(**{**values, **changes})


@dataclass
class TrainOutcome:
    results: List[RunResult]
    summary: dict
    classes: List[str]
    out_dir: Path


def default_run_name(request: TrainRequest) -> str:
    data = Path(request.data).stem if request.data else "synthetic"
    mods = "".join(m[0] for m in parse_modalities(request.modalities))
    return f"{data}-{mods}-{time.strftime('%Y%m%d-%H%M%S')}"


def settings(request: TrainRequest) -> dict:
    """Every setting the request resolves to (the preset's values where it
    gives none), keyed by field name; checks each one on the way (the
    message names the option), before any data is read."""
    if request.input_dims not in INPUT_DIMS:
        raise ValueError(f"--input-dims: expected one of {INPUT_DIMS}, got "
                         f"{request.input_dims!r}")
    check_number("--split-seed", request.split_seed, 0, SEED_MAX,
                 integer=True)
    check_number("--valid-fraction", request.valid_fraction, 0, 1,
                 low_open=True, high_open=True)
    if not request.seeds:
        raise ValueError("--seeds: expected at least one seed")
    for seed in request.seeds:
        check_number("--seed" if len(request.seeds) == 1 else "--seeds",
                     seed, 0, SEED_MAX, integer=True)
    if request.synthetic is not None and request.data is not None:
        raise ValueError("--data and --synthetic-dialogues: the built-in "
                         "synthetic dialogues are used only without --data; "
                         "drop one")
    if request.synthetic is not None:
        check_number("--synthetic-dialogues",
                     request.synthetic.get("num_dialogues", 1), 1,
                     integer=True)
    train = recipe_config(request.preset, synthetic=request.data is None,
                          **request.train_overrides).to_dict()
    model = preset_config(request.preset, modalities=request.modalities,
                          **request.model_overrides).to_dict()
    # Derived from the request and the data, or where rather than what.
    for key in ("seed", "device", "extra", "class_weights"):
        train.pop(key)
    for key in ("input_dims", "num_classes", "num_speakers"):
        model.pop(key)
    values = request.to_dict()
    for key in ("model_overrides", "train_overrides", "device"):
        values.pop(key)
    values["modalities"] = list(parse_modalities(request.modalities))
    return json.loads(files.to_json({**values, **train, **model}))


def check_request(request: TrainRequest) -> None:
    """Every option and the device, checked without reading data or
    touching the disk (:func:`run_training` does it first too)."""
    settings(request)
    if request.classes not in CLASSES:
        raise ValueError(f"--classes: expected one of {', '.join(CLASSES)}, "
                         f"got {request.classes!r}")
    resolve_device(request.device)


def load_request(run_dir) -> TrainRequest:
    """The request a run directory was started with (its ``config.json``),
    to resume it."""
    path = Path(run_dir) / files.CONFIG
    if not path.is_file():
        raise DataError(f"--resume {run_dir}: no run to resume (expected a "
                        f"directory written by `dsgdn train`)")
    try:
        values = json.loads(path.read_text())["request"]
        return TrainRequest.from_dict(values, out=Path(run_dir), resume=True)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"--resume {run_dir}: cannot read {path.name} "
                        f"({type(exc).__name__}: {exc})".splitlines()[0]
                        ) from None


def _check_resume(request: TrainRequest) -> None:
    """A resumed run must be asked for exactly what it was started with
    (only where and on which device may change)."""
    stored = settings(load_request(request.out))
    given = settings(request)
    for key, value in given.items():
        if stored.get(key) != value:
            raise ValueError(
                f"--resume {request.out}: the run was started with "
                f"{key}={stored.get(key)!r}, not {value!r}")


def build_model_config(request: TrainRequest, corpus) -> ModelConfig:
    """The preset's architecture, checked against (or, with
    ``input_dims="data"``, fitted to) the corpus."""
    if request.input_dims not in INPUT_DIMS:
        raise ValueError(f"--input-dims: expected one of {INPUT_DIMS}, got "
                         f"{request.input_dims!r}")
    config = preset_config(request.preset, modalities=request.modalities,
                           **request.model_overrides)
    if request.input_dims == "preset":
        corpus.check_dims(config.input_dims, f"preset '{request.preset}'")
    config.input_dims = {m: corpus.modality_dims[m]
                         for m in config.input_dims}
    config.num_classes = len(corpus.classes)
    config.num_speakers = max(config.num_speakers, corpus.num_speakers)
    return config


def run_training(request: TrainRequest,
                 callback: Optional[TrainCallback] = None,
                 log: Callable[[str], None] = print) -> TrainOutcome:
    """Loads the data once, trains every seed, writes the run directory
    (one sub-directory per seed when there are several, ``summary.json``
    last) and returns the results.

    Every option, the device and the output directory are checked before
    any data is read. The run directory's lock is held throughout: a
    second writer gets a one-line error naming this process's PID
    (:class:`~dsgdn_pyg.training.lock.RunLocked`). With
    :obj:`request.resume`, finished seeds are read back, unfinished ones
    carry on from their ``last.pt`` (each checked to be the run's own): the
    outcome is the uninterrupted run's.
    """
    check_request(request)
    device = resolve_device(request.device)
    out_dir = Path(request.out or Path("runs") / default_run_name(request))
    option = "--resume" if request.resume else "--out"
    files.check_location(out_dir, request.resume)
    created = not out_dir.exists()
    files.make_dir(out_dir, request.resume)
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(lock.hold(out_dir, f"{option} {out_dir}"))
        except OSError as exc:  # not RunLocked: cannot make the lock file
            if created:
                out_dir.rmdir()
            raise ValueError(f"{option} {out_dir}: cannot write there "
                             f"({exc.strerror or exc})") from None
        try:
            files.prepare(out_dir, resume=request.resume,
                          overwrite=request.overwrite)
            if request.resume:
                _check_resume(request)
            log(f"device: {device}")
            start = time.perf_counter()
            corpus, model_config, train_config = load_data(request, device)
        except BaseException:
            # Refused, or bad data: leave no trace of the run.
            if created:
                lock.discard(out_dir)
                out_dir.rmdir()
            raise
        return _train_seeds(request, out_dir, corpus, model_config,
                            train_config, time.perf_counter() - start,
                            callback, log)


def load_data(request: TrainRequest, device=None):
    """The corpus of a request, read and checked, its model configuration
    (checked against, or fitted to, the data) and its training
    configuration; raises :class:`~dsgdn_pyg.errors.DataError` on bad
    data."""
    from dsgdn_pyg.data.corpus import load_corpus

    modalities = parse_modalities(request.modalities)
    synthetic = request.data is None
    preset_classes = request.classes == "preset" and not synthetic
    train_config = recipe_config(request.preset, synthetic=synthetic,
                                 device=str(device or "cpu"),
                                 **request.train_overrides)
    corpus = load_corpus(request.data, window=train_config.window,
                         modalities=list(modalities),
                         seed=request.split_seed,
                         valid_fraction=request.valid_fraction,
                         synthetic_config=request.synthetic,
                         classes=(PRESET_CLASSES.get(request.preset)
                                  if preset_classes else None),
                         classes_by=f"preset '{request.preset}'",
                         classes_advice=CLASSES_ADVICE)
    model_config = build_model_config(request, corpus)
    return corpus, model_config, train_config


def check_data(requests: Sequence[TrainRequest],
               log: Callable[[str], None] = print) -> None:
    """Reads and checks the data of several requests (the runs of a sweep)
    before any of them starts: each distinct data set once, its graphs
    with the first request's window, and each distinct model configuration
    against it. Raises the one-line error of the first problem."""
    from dsgdn_pyg.data.corpus import load_corpus

    corpora: dict = {}
    checked = set()
    for request in requests:
        synthetic = request.data is None
        preset_classes = request.classes == "preset" and not synthetic
        classes = (PRESET_CLASSES.get(request.preset)
                   if preset_classes else None)
        key = files.to_json([request.data, request.synthetic,
                             request.split_seed, request.valid_fraction,
                             classes], sort_keys=True)
        if key not in corpora:
            train = recipe_config(request.preset, synthetic=synthetic,
                                  **request.train_overrides)
            start = time.perf_counter()
            corpora[key] = load_corpus(
                request.data, window=train.window, seed=request.split_seed,
                valid_fraction=request.valid_fraction,
                synthetic_config=request.synthetic, classes=classes,
                classes_by=f"preset '{request.preset}'",
                classes_advice=CLASSES_ADVICE)
            log(f"data: {corpora[key].name} read and checked in "
                f"{time.perf_counter() - start:.1f} s")
        model_key = files.to_json([key, request.preset, request.modalities,
                                   request.input_dims,
                                   request.model_overrides], sort_keys=True)
        if model_key not in checked:
            corpus = corpora[key].select_modalities(
                list(parse_modalities(request.modalities)))
            build_model_config(request, corpus)
            checked.add(model_key)


def _train_seeds(request: TrainRequest, out_dir: Path, corpus,
                 model_config: ModelConfig, train_config, seconds: float,
                 callback: Optional[TrainCallback],
                 log: Callable[[str], None]) -> TrainOutcome:
    if not request.resume:
        files.write_json(out_dir / files.CONFIG, dict(
            version=__version__, request=request.to_dict()))
    log(f"data: {corpus.name} ({len(corpus.train)} train / "
        f"{len(corpus.valid)} valid ({corpus.valid_source}) / "
        f"{len(corpus.test)} test dialogues), graphs built in "
        f"{seconds:.1f} s")
    log(_choose_class_weights(request, train_config, corpus))
    train_config.extra = dict(split_seed=request.split_seed,
                              valid_fraction=request.valid_fraction,
                              synthetic=request.synthetic,
                              classes=request.classes)

    results = []
    for seed in request.seeds:
        train_config.seed = seed
        seed_dir = out_dir if len(request.seeds) == 1 else \
            out_dir / f"seed-{seed}"
        if request.resume and (seed_dir / files.REPORT_JSON).is_file():
            check_finished(seed_dir)
            log(f"seed {seed}: finished, read back from {seed_dir}")
            results.append(load_result(seed_dir))
            continue
        results.append(train_run(corpus, model_config, train_config,
                                 seed_dir, callback, resume=request.resume,
                                 request=request.to_dict()))
    summary = summarize(results)
    files.write_json(out_dir / files.SUMMARY, dict(
        seeds=request.seeds, selected_on=train_config.select_on,
        legacy_protocol=train_config.select_on == "test",
        best_epochs=[r.best_epoch for r in results],
        seconds_per_epoch=[r.seconds_per_epoch for r in results],
        **summary))
    return TrainOutcome(results, summary, list(corpus.classes), out_dir)


def _choose_class_weights(request: TrainRequest, train_config,
                          corpus) -> str:
    """Sets the run's class weights: the preset's with the preset's classes,
    the training labels' inverse frequencies with the data's own classes
    (``--classes data``), none with ``--no-class-weights``. Returns the log
    line saying which."""
    own = request.classes == "data" and request.data is not None
    whose = ("the synthetic data" if request.data is None else
             "the data" if own else f"preset '{request.preset}'")
    what = (f"{len(corpus.classes)} classes of {whose} "
            f"({', '.join(corpus.classes)})")
    weights = (corpus.inverse_frequency_weights() if own else
               train_config.class_weights)
    if not request.class_weights or not weights:
        reason = "--no-class-weights" if not request.class_weights else \
            "the preset has none"
        weights, how = None, f"class weights off ({reason})"
    elif len(weights) != len(corpus.classes):
        weights, how = None, (f"class weights off (the preset's are for "
                              f"{len(weights)} classes)")
    else:
        how = ("class weights: inverse frequency of the training labels"
               if own else "class weights: the preset's")
    train_config.class_weights = weights
    return f"{what}; {how}"
