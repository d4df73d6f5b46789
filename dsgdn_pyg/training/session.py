"""One ``dsgdn train`` invocation: data, configurations, seeds, summary.

Kept in the library (not the CLI) so that scripts get the same behaviour as
the command line.
"""

import contextlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import (Callable, Collection, ContextManager, List, Optional,
                    Sequence)

from dsgdn_pyg import __version__
from dsgdn_pyg.data.readers import CLASSES_ADVICE, PRESET_CLASSES
from dsgdn_pyg.errors import DataError
from dsgdn_pyg.models.config import (ModelConfig, parse_modalities,
                                     preset_config)
from dsgdn_pyg.training import lock
from dsgdn_pyg.training import run_dir as files
from dsgdn_pyg.training.checkpoint import check_finished
from dsgdn_pyg.training.config import recipe_config
from dsgdn_pyg.training.device import resolve_device
from dsgdn_pyg.training.options import (CLASSES, DEFAULT,  # noqa: F401
                                        INPUT_DIMS, OPTION, TRAIN_OPTIONS)
from dsgdn_pyg.training.report import RunResult, load_result, summarize
from dsgdn_pyg.training.request import (  # noqa: F401 (re-exported)
    FREE_ON_RESUME, TrainRequest, request_from_options, settings)
from dsgdn_pyg.training.trainer import (TrainCallback, corpus_metadata,
                                        train_run)


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


def check_request(request: TrainRequest):
    """Every option and the device, checked without reading data or
    touching the disk (what :func:`run_training` does first); returns the
    device."""
    settings(request)
    return resolve_device(request.device)


def load_request(run_dir) -> TrainRequest:
    """The request a run directory was started with (its ``config.json``),
    to resume it: refused for one seed of a run of several, and where the
    run's relative ``--data`` names other data than it recorded."""
    path = Path(run_dir) / files.CONFIG
    if not path.is_file():
        raise DataError(f"--resume {run_dir}: no run to resume (expected a "
                        f"directory written by `dsgdn train`)")
    try:
        config = json.loads(path.read_text())
        values = config["request"]
        request = TrainRequest.from_dict(values, out=Path(run_dir),
                                         resume=True)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"--resume {run_dir}: cannot read {path.name} "
                        f"({type(exc).__name__}: {exc})".splitlines()[0]
                        ) from None
    if "model" in config and len(request.seeds) > 1:
        # A seed's own directory: resumed on its own, it would start the
        # whole run of several seeds inside it.
        raise DataError(
            f"--resume {run_dir}: one seed of a run of seeds "
            f"{', '.join(map(str, request.seeds))}; resume the whole run: "
            f"dsgdn train --resume {Path(run_dir).parent}")
    _check_same_data(Path(run_dir), request, config)
    return request


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


def _check_same_data(run_dir: Path, stored: TrainRequest,
                     config: dict) -> None:
    # The run's --data as given is read from the working directory: from
    # another one it may name other data, which the run must not carry on
    # with. Runs that recorded no absolute path cannot be checked.
    recorded = (config.get("data") or {}).get("path")
    if stored.data is None or recorded is None:
        return
    here = Path(stored.data).resolve()
    if here != Path(recorded):
        raise ValueError(
            f"--resume {run_dir}: the run's --data {stored.data} was "
            f"{recorded}, but here it is {here}; resume from the directory "
            f"the run was started in")


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
    created = files.missing_dirs(out_dir)  # runs/ too: all go if refused
    files.make_dir(out_dir, request.resume)
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(lock.hold(out_dir, f"{option} {out_dir}"))
        except OSError as exc:  # not RunLocked: cannot make the lock file
            files.remove_empty_dirs(created)
            raise ValueError(f"{option} {out_dir}: cannot write there "
                             f"({exc.strerror or exc})") from None
        try:
            files.prepare(out_dir, resume=request.resume,
                          overwrite=request.overwrite)
            log(f"device: {device}")
            start = time.perf_counter()
            corpus, model_config, train_config = load_data(request, device)
        except BaseException:
            # Refused, or bad data: leave no trace of the run (and the run
            # --overwrite would replace as it was).
            if created:
                lock.discard(out_dir)
                files.remove_empty_dirs(created)
            raise
        if request.overwrite:
            files.clear_run(out_dir)
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
    if not request.resume:  # each seed's config.json records data.path
        files.write_json(out_dir / files.CONFIG, dict(
            version=__version__, request=request.to_dict(),
            data=dict(path=corpus_metadata(corpus)["path"])))
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
