"""One ``dsgdn train`` invocation: data, configurations, seeds, summary.

Kept in the library (not the CLI) so that scripts get the same behaviour as
the command line.
"""

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Optional

from dsgdn_pyg.models.amb_dsgdn import (ModelConfig, parse_modalities,
                                        preset_config)
from dsgdn_pyg.training import run_dir as files
from dsgdn_pyg.training.config import recipe_config
from dsgdn_pyg.training.trainer import (RunResult, TrainCallback, summarize,
                                        train_run)

INPUT_DIMS = ("preset", "data")


@dataclass
class TrainRequest:
    """Everything ``dsgdn train`` was asked for."""
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
    synthetic: Optional[dict] = None
    model_overrides: dict = field(default_factory=dict)
    train_overrides: dict = field(default_factory=dict)
    # STAND-IN (issue 11) for issue 10's resume: with ``resume`` an
    # interrupted run directory is cleared and trained again (deterministic
    # training gives the same table); ``overwrite`` clears it first.
    resume: bool = False
    overwrite: bool = False


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


def build_model_config(request: TrainRequest, corpus) -> ModelConfig:
    """The preset's architecture, checked against (or, with
    ``input_dims="data"``, fitted to) the corpus."""
    if request.input_dims not in INPUT_DIMS:
        raise ValueError(f"input_dims: expected one of {INPUT_DIMS}, got "
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
    (one sub-directory per seed when there are several, plus
    ``summary.json``) and returns the results."""
    from dsgdn_pyg.data.corpus import load_corpus

    modalities = parse_modalities(request.modalities)
    synthetic = request.data is None
    train_config = recipe_config(request.preset, synthetic=synthetic,
                                 **request.train_overrides)
    start = time.perf_counter()
    corpus = load_corpus(request.data, window=train_config.window,
                         modalities=list(modalities), seed=request.split_seed,
                         valid_fraction=request.valid_fraction,
                         synthetic_config=request.synthetic)
    model_config = build_model_config(request, corpus)
    log(f"data: {corpus.name} ({len(corpus.train)} train / "
        f"{len(corpus.valid)} valid ({corpus.valid_source}) / "
        f"{len(corpus.test)} test dialogues), graphs built in "
        f"{time.perf_counter() - start:.1f} s")
    weights = train_config.class_weights
    if not request.class_weights or (
            weights and len(weights) != model_config.num_classes):
        train_config.class_weights = None
    train_config.extra = dict(split_seed=request.split_seed,
                              valid_fraction=request.valid_fraction,
                              synthetic=request.synthetic)

    out_dir = Path(request.out or Path("runs") / default_run_name(request))
    if request.overwrite or (request.resume and
                             files.run_status(out_dir) == "incomplete"):
        shutil.rmtree(out_dir, ignore_errors=True)  # STAND-IN, see resume
    results = []
    for seed in request.seeds:
        train_config.seed = seed
        seed_dir = out_dir if len(request.seeds) == 1 else \
            out_dir / f"seed-{seed}"
        results.append(train_run(corpus, model_config, train_config,
                                 seed_dir, callback))
    summary = summarize(results)
    files.write_json(out_dir / "summary.json", dict(
        seeds=request.seeds, selected_on=train_config.select_on,
        legacy_protocol=train_config.select_on == "test",
        best_epochs=[r.best_epoch for r in results],
        seconds_per_epoch=[r.seconds_per_epoch for r in results],
        **summary))
    return TrainOutcome(results, summary, list(corpus.classes), out_dir)
