"""One ``dsgdn train`` invocation: data, configurations, seeds, summary.

Kept in the library (not the CLI) so that scripts get the same behaviour as
the command line.
"""

import contextlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import (Any, Callable, Collection, ContextManager, List,
                    Mapping, Optional, Sequence)

from dsgdn_pyg import __version__
from dsgdn_pyg.data.readers import CLASSES_ADVICE, PRESET_CLASSES
from dsgdn_pyg.errors import DataError, parse_int_list, refuse_together
from dsgdn_pyg.models.amb_dsgdn import (ModelConfig, parse_fusion_weights,
                                        parse_modalities, preset_config)
from dsgdn_pyg.training import lock
from dsgdn_pyg.training import run_dir as files
from dsgdn_pyg.training.checkpoint import check_finished
from dsgdn_pyg.training.config import recipe_config
from dsgdn_pyg.training.device import resolve_device
from dsgdn_pyg.training.options import (CLASSES, DEFAULT,  # noqa: F401
                                        INPUT_DIMS, OPTION, TRAIN_OPTIONS)
from dsgdn_pyg.training.report import RunResult, load_result, summarize
from dsgdn_pyg.training.trainer import TrainCallback, train_run

# Where and how, not what: free to change on a resume.
FREE_ON_RESUME = ("device", "out", "resume", "overwrite")


@dataclass
class TrainRequest:
    """Everything ``dsgdn train`` was asked for (the defaults are those of
    :data:`~dsgdn_pyg.training.options.TRAIN_OPTIONS`, and
    :func:`request_from_options` makes one from option values).
    :obj:`resume` carries on the interrupted run in :obj:`out`;
    :obj:`overwrite` clears a finished or abandoned one there first."""
    data: Optional[str] = DEFAULT["data"]
    preset: str = DEFAULT["preset"]
    modalities: str = DEFAULT["modalities"]
    seeds: List[int] = field(default_factory=lambda: [DEFAULT["seed"]])
    device: str = DEFAULT["device"]
    out: Optional[Path] = DEFAULT["out"]
    input_dims: str = DEFAULT["input_dims"]
    split_seed: int = DEFAULT["split_seed"]
    valid_fraction: float = DEFAULT["valid_fraction"]
    class_weights: bool = DEFAULT["class_weights"]
    classes: str = DEFAULT["classes"]
    synthetic: Optional[dict] = None
    model_overrides: dict = field(default_factory=dict)
    train_overrides: dict = field(default_factory=dict)
    resume: bool = False
    overwrite: bool = DEFAULT["overwrite"]

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
    message names the option), before any data is read: the checks of
    :data:`~dsgdn_pyg.training.options.TRAIN_OPTIONS`, then those of the
    model's and the recipe's configurations."""
    for option in TRAIN_OPTIONS:
        if option.check is not None:
            if option.key == "synthetic_dialogues":
                if request.synthetic is None:
                    continue
                value = request.synthetic.get("num_dialogues", 1)
            else:
                value = getattr(request, option.key)
            option.check(option.flag, value)
    if request.synthetic is not None and request.data is not None:
        raise ValueError("--data and --synthetic-dialogues: the built-in "
                         "synthetic dialogues are used only without --data; "
                         "drop one")
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


def check_request(request: TrainRequest):
    """Every option and the device, checked without reading data or
    touching the disk (what :func:`run_training` does first); returns the
    device."""
    settings(request)
    return resolve_device(request.device)


def request_from_options(values: Mapping[str, Any],
                         given: Optional[Collection[str]] = None,
                         **fields) -> TrainRequest:
    """The request of ``dsgdn train`` option values, keyed as
    :data:`~dsgdn_pyg.training.options.TRAIN_OPTIONS` names them (a
    configuration's overrides, or every option of a command line): an option
    of the request left out takes its default, one of the model or of the
    recipe the preset's value. :obj:`fields` (the seeds and run directory of
    an experiment's run) are set as they are. :obj:`given` names the options
    the user gave (default: those in :obj:`values`).

    Turns the text of ``seeds`` and ``fusion_weights`` into values and
    refuses the options that exclude each other (``--resume`` and
    ``--overwrite``, ``--seed`` and ``--seeds``, ``--resume`` and another
    ``--out``); :func:`settings` checks the rest. With ``resume``, the
    request asks to carry on that run (:func:`run_training` checks it
    against the run's own)."""
    unknown = sorted(set(values) - set(OPTION))
    if unknown:
        raise ValueError(f"settings: unknown {unknown}")
    given = set(values if given is None else given)

    def value(key: str):
        return values.get(key, DEFAULT[key])

    resume = value("resume")
    refuse_together("--resume", resume is not None, "--overwrite",
                    bool(value("overwrite")),
                    "a resumed run keeps its files; choose one")
    refuse_together("--seed", "seed" in given, "--seeds",
                    value("seeds") is not None,
                    "--seeds replaces --seed; give one")
    overrides = {part: {o.key: values.get(o.key) for o in TRAIN_OPTIONS
                        if o.part == part} for part in ("model", "train")}
    overrides["model"]["fusion_weights"] = parse_fusion_weights(
        overrides["model"]["fusion_weights"])
    seeds = value("seeds")
    if seeds is None:
        seeds = [value("seed")]
    elif isinstance(seeds, str):
        seeds = parse_int_list("--seeds", seeds, distinct=True)
    data, dialogues = value("data"), value("synthetic_dialogues")
    request = dict(
        {o.key: value(o.key) for o in TRAIN_OPTIONS if o.part == "request"},
        data=str(data) if data is not None else None, seeds=list(seeds),
        out=value("out"), overwrite=value("overwrite"),
        synthetic=dict(num_dialogues=dialogues) if dialogues is not None
        else None, model_overrides=overrides["model"],
        train_overrides=overrides["train"])
    del request["synthetic_dialogues"]
    if resume is not None:
        if request["out"] is not None and Path(request["out"]) != \
                Path(resume):
            raise ValueError(f"--out {request['out']} and --resume {resume}: "
                             f"the run resumes in its own directory; drop "
                             f"--out")
        request.update(out=Path(resume), resume=True)
    return TrainRequest(**dict(request, **fields))


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


def resumed_request(request: TrainRequest,
                    given: Optional[Collection[str]] = None
                    ) -> TrainRequest:
    """The request that carries on the run in :obj:`request.out`: the one
    it was started with (its ``config.json``), on :obj:`request.device`
    where the device was given. Each option named in :obj:`given` (every
    setting when ``None``) must resolve, in :obj:`request`, to the run's
    own value: a one-line error naming the option otherwise. Both
    requests are checked on the way (:func:`settings`)."""
    if request.out is None:
        raise ValueError("--resume: expected the run directory to resume "
                         "(the request's out)")
    run_dir = Path(request.out)
    stored = load_request(run_dir)
    if given is None or "device" in given:
        stored.device = request.device
    old, new = settings(stored), settings(request)
    if given is None:
        flags = {o.setting: o.flag for o in reversed(TRAIN_OPTIONS)}
        compared = [(flags.get(key, key), key) for key in new]
    else:
        compared = [(o.flag, o.setting) for o in TRAIN_OPTIONS
                    if o.key in given and o.key not in FREE_ON_RESUME]
    for flag, key in compared:
        if old.get(key) != new.get(key):
            raise ValueError(
                f"{flag}: {run_dir} was started with "
                f"{_setting_text(key, old.get(key))}, not "
                f"{_setting_text(key, new.get(key))}; --resume takes the "
                f"run's own options (drop it, or start a new run)")
    return stored


def _setting_text(key: str, value) -> str:
    """A resolved setting as a message says it (``None`` means "not
    given")."""
    if value is None:
        return ("the built-in synthetic dialogues" if key == "data" else
                "no value (the default)")
    return repr(value)


def build_model_config(request: TrainRequest, corpus) -> ModelConfig:
    """The preset's architecture, checked against (or, with
    ``input_dims="data"``, fitted to) the corpus (:func:`settings` has
    checked the request)."""
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
                 log: Callable[[str], None] = print, *,
                 given: Optional[Collection[str]] = None,
                 display: Optional[ContextManager] = None) -> TrainOutcome:
    """Loads the data once, trains every seed, writes the run directory
    (one sub-directory per seed when there are several, ``summary.json``
    last) and returns the results.

    Every option, the device and the output directory are checked before
    any data is read; :obj:`display` (the CLI's progress bars) is entered
    once the options are, around the rest. The run directory's lock is held
    throughout: a second writer gets a one-line error naming this process's
    PID (:class:`~dsgdn_pyg.training.lock.RunLocked`). With
    :obj:`request.resume`, the run in :obj:`request.out` carries on as it
    was started (:func:`resumed_request`: the options named in :obj:`given`,
    every one when ``None``, must be its own): finished seeds are read back,
    unfinished ones carry on from their ``last.pt`` (each checked to be the
    run's own), and the outcome is the uninterrupted run's.
    """
    if request.resume:  # the run's own request, checked on the way
        request = resumed_request(request, given)
        device = resolve_device(request.device)
    else:
        device = check_request(request)
    with display if display is not None else contextlib.nullcontext():
        return _run_checked(request, device, callback, log)


def _run_checked(request: TrainRequest, device,
                 callback: Optional[TrainCallback],
                 log: Callable[[str], None]) -> TrainOutcome:
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
