"""Training AMB-DSGDN, one seed at a time, with validation-based
selection.

The epoch with the best validation weighted F1 is kept and test is reported
at that epoch. Selecting on test (what the published code does) exists only
as the labelled legacy protocol, :obj:`select_on="test"`.

:func:`train_run` calls the steps of a seed in order; what they use lives
beside it: the device and seeds (:mod:`~dsgdn_pyg.training.device`), the
metrics of a split and the selected epoch
(:mod:`~dsgdn_pyg.training.evaluation`), ``best.pt``, ``last.pt`` and the
random state of a resume (:mod:`~dsgdn_pyg.training.checkpoint`), and the
report (:mod:`~dsgdn_pyg.training.report`).
"""

import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional

import numpy as np
import torch
from torch_geometric.loader import DataLoader

from dsgdn_pyg import __version__
from dsgdn_pyg.data.dialogue_graph import NODE_TYPE
from dsgdn_pyg.errors import TrainingDiverged
from dsgdn_pyg.models.amb_dsgdn import AMBDSGDN, ModelConfig, amb_dsgdn_loss
from dsgdn_pyg.training import run_dir as files
from dsgdn_pyg.training.checkpoint import (Progress, load_last, save_best,
                                           save_last)
from dsgdn_pyg.training.config import TrainConfig
from dsgdn_pyg.training.device import (resolve_device, seed_everything,
                                       to_device)
from dsgdn_pyg.training.evaluation import (SelectedEpoch, SplitMetrics,
                                           predict_split, split_metrics)
from dsgdn_pyg.training.report import RunResult, write_report


class TrainCallback:
    """Hooks the trainer calls; the CLI draws its progress bars with them.
    Every method is optional."""

    def on_run_start(self, seed: int, epochs: int) -> None:
        pass

    def on_epoch_start(self, epoch: int, num_batches: int) -> None:
        pass

    def on_batch_end(self, loss: float) -> None:
        pass

    def on_epoch_end(self, record: dict) -> None:
        pass


def make_adam(parameters, lr: float, weight_decay: float,
              device: torch.device) -> torch.optim.Adam:
    """Adam with the recipe's learning rate and L2 weight decay, using
    PyTorch's fused (single-kernel) update where this torch has one for the
    device (CUDA; CPU from torch 2.4): the same update rule, and a third of
    the step time of the default multi-tensor one on the 13 M parameters of
    the published model."""
    parameters = list(parameters)
    if device.type in ("cpu", "cuda"):
        try:
            return torch.optim.Adam(parameters, lr=lr,
                                    weight_decay=weight_decay, fused=True)
        except RuntimeError:  # no fused kernel for this device here
            pass
    return torch.optim.Adam(parameters, lr=lr, weight_decay=weight_decay)


def train_epoch(model: AMBDSGDN, loader: DataLoader,
                optimizer: torch.optim.Optimizer, device: torch.device,
                class_weight: Optional[torch.Tensor] = None,
                balance: bool = False,
                generator: Optional[random.Random] = None,
                on_batch_end=None) -> float:
    """One pass over :obj:`loader` with the loss of Eq. 28-33 (adaptive
    modality dropout when :obj:`balance`); returns the summed batch losses,
    read once per batch (the one host sync), each also passed to
    :obj:`on_batch_end`. A non-finite loss raises :class:`TrainingDiverged`
    naming the batch. The caller sets the model's mode."""
    total = 0.0
    for number, batch in enumerate(loader, start=1):
        batch = to_device(batch, device)
        optimizer.zero_grad(set_to_none=True)
        out = model(batch, balance=balance, generator=generator)
        loss = amb_dsgdn_loss(out, batch[NODE_TYPE].y, class_weight)
        loss.backward()
        optimizer.step()
        value = loss.detach().item()
        if not math.isfinite(value):
            raise TrainingDiverged(f"batch {number} of {len(loader)}: the "
                                   f"loss is {value}")
        total += value
        if on_batch_end is not None:
            on_batch_end(value)
    return total


def non_finite_parameter(model: torch.nn.Module) -> Optional[str]:
    """The name of the first parameter holding a NaN or an infinity, else
    ``None`` (one host sync for the whole model)."""
    named = list(model.named_parameters())
    finite = torch.stack([torch.isfinite(p).all() for _, p in named])
    if bool(finite.all()):
        return None
    return named[int((~finite).nonzero()[0])][0]


def corpus_metadata(corpus) -> dict:
    """What a checkpoint records about its data, to rebuild inputs later:
    its source as given and, in :obj:`path`, as an absolute path, which
    later commands read whatever their working directory."""
    path = str(Path(corpus.source).resolve()) if corpus.source else None
    return dict(name=corpus.name, source=corpus.source, path=path,
                classes=list(corpus.classes),
                modality_dims=dict(corpus.modality_dims),
                num_speakers=corpus.num_speakers,
                speaker_vocab=corpus.speaker_vocab,
                valid_source=corpus.valid_source,
                extractors=getattr(corpus, "extractors", None))


def run_configuration(corpus, model_config: ModelConfig, config: TrainConfig,
                      request: Optional[dict] = None) -> dict:
    """What ``config.json`` and ``best.pt`` record of a seed: the version,
    the model and training configurations, the data and (where given)
    :obj:`request`, what was asked for."""
    run_config = dict(version=__version__, model=model_config.to_dict(),
                      train=config.to_dict(), data=corpus_metadata(corpus))
    if request is not None:
        run_config["request"] = request
    return run_config


@dataclass
class _Training:
    """What one seed trains with, built in a fixed order from its seed."""
    device: torch.device
    model: AMBDSGDN
    optimizer: torch.optim.Optimizer
    class_weight: Optional[torch.Tensor]
    loader_generator: torch.Generator  # the training loader's shuffle
    draw: random.Random  # the modality-dropout draws (Alg. 2)
    loader: DataLoader
    eval_loaders: Dict[str, DataLoader]

    @classmethod
    def build(cls, corpus, model_config: ModelConfig,
              config: TrainConfig) -> "_Training":
        device = resolve_device(config.device)
        seed_everything(config.seed)
        draw = random.Random(config.seed)
        model = AMBDSGDN(model_config).to(device)
        optimizer = make_adam(model.parameters(), config.lr,
                              config.weight_decay, device)
        class_weight = (torch.tensor(config.class_weights, dtype=torch.float,
                                     device=device)
                        if config.class_weights else None)
        generator = torch.Generator().manual_seed(config.seed)
        loader = DataLoader(corpus.train, batch_size=config.batch_size,
                            shuffle=True, generator=generator,
                            num_workers=config.num_workers)
        eval_loaders = {
            split: DataLoader(getattr(corpus, split),
                              batch_size=config.batch_size)
            for split in ("valid", "test")
        }
        return cls(device, model, optimizer, class_weight, generator, draw,
                   loader, eval_loaders)


def _begin(training: _Training, run_config: dict, out_dir: Optional[Path],
           resume: bool) -> Progress:
    """The progress a seed starts from: none, or (:obj:`resume`) what its
    ``last.pt`` records, restored into :obj:`training`; writes
    ``config.json``."""
    progress = Progress()
    if out_dir is None:
        return progress
    if resume and (out_dir / files.LAST).is_file():
        progress = load_last(out_dir, run_config, training.model,
                             training.optimizer, training.loader_generator,
                             training.draw)
    files.write_json(out_dir / files.CONFIG, run_config)
    if resume:  # tried again: a divergence is written anew if it recurs
        (out_dir / files.DIVERGED).unlink(missing_ok=True)
    return progress


def _train_one_epoch(training: _Training, config: TrainConfig, epoch: int,
                     callback: TrainCallback, kept: str) -> dict:
    """Trains epoch :obj:`epoch` (with modality dropout after the warm-up)
    and checks that the model stayed finite; returns the start of its
    ``metrics.jsonl`` record. Divergence raises :class:`TrainingDiverged`
    saying what :obj:`kept` is."""
    start = time.perf_counter()
    training.model.train()
    balance = epoch > config.warm_up_epochs
    callback.on_epoch_start(epoch, len(training.loader))
    try:
        total = train_epoch(training.model, training.loader,
                            training.optimizer, training.device,
                            training.class_weight, balance, training.draw,
                            callback.on_batch_end)
        name = non_finite_parameter(training.model)
        if name is not None:
            raise TrainingDiverged(f"after its last batch, parameter "
                                   f"{name!r} is not finite")
    except TrainingDiverged as exc:
        raise TrainingDiverged(
            f"training diverged at epoch {epoch}, {exc} ({kept}; try a "
            f"lower --lr)") from None
    return dict(epoch=epoch,
                train_loss=total / max(len(training.loader), 1),
                modality_dropout=balance,
                epoch_seconds=time.perf_counter() - start)


def _measure(training: _Training) -> Dict[str, SplitMetrics]:
    """The validation and test metrics of the model as it is now."""
    num_classes = training.model.config.num_classes
    evals = {}
    for split, loader in training.eval_loaders.items():
        pred, label, _ = predict_split(training.model, loader,
                                       training.device)
        evals[split] = split_metrics(pred, label, num_classes)
    return evals


def _epoch_record(trained: dict, evals: Dict[str, SplitMetrics]) -> dict:
    """One line of ``metrics.jsonl`` (without ``best``)."""
    return dict(epoch=trained["epoch"], train_loss=trained["train_loss"],
                modality_dropout=trained["modality_dropout"],
                valid_f1=evals["valid"].weighted_f1,
                valid_acc=evals["valid"].accuracy,
                test_f1=evals["test"].weighted_f1,
                test_acc=evals["test"].accuracy,
                epoch_seconds=trained["epoch_seconds"])


def _select(progress: Progress, epoch: int, evals: Dict[str, SplitMetrics],
            select_on: str) -> bool:
    """Keeps :obj:`epoch` as the selected one when it is the first or its
    weighted F1 on :obj:`select_on` is higher; says whether it did."""
    score = evals[select_on].weighted_f1
    if progress.selected is not None and not score > progress.selected.score:
        return False
    progress.selected = SelectedEpoch(score, epoch, evals["valid"],
                                      evals["test"])
    return True


def _kept(progress: Progress, out_dir: Optional[Path]) -> str:
    """What a divergence leaves behind."""
    if progress.selected is not None and out_dir is not None:
        return (f"best.pt keeps epoch {progress.selected.epoch}, the last "
                f"finite model")
    return "no model was kept"


def _result(config: TrainConfig, progress: Progress,
            out_dir: Optional[Path]) -> RunResult:
    selected = progress.selected
    return RunResult(
        seed=config.seed, best_epoch=selected.epoch,
        select_on=config.select_on, valid=selected.valid,
        test=selected.test,
        seconds_per_epoch=float(np.median([r["epoch_seconds"]
                                           for r in progress.history])),
        history=progress.history, run_dir=str(out_dir) if out_dir else None)


def train_run(corpus, model_config: ModelConfig, config: TrainConfig,
              out_dir: Optional[Path] = None,
              callback: Optional[TrainCallback] = None,
              resume: bool = False,
              request: Optional[dict] = None) -> RunResult:
    """Trains one seed, keeps the epoch selected on :obj:`config.select_on`
    and returns validation and test metrics at that epoch.

    With :obj:`out_dir`, writes ``config.json`` (with :obj:`request`, what
    was asked for), ``metrics.jsonl``, the best checkpoint, ``last.pt``
    after every epoch and, once finished, the report. With :obj:`resume`,
    carries on from ``last.pt`` where there is one: the result is the
    uninterrupted run's, bit for bit on CPU (``best.pt`` byte for byte), and
    the run's own ``last.pt`` and ``best.pt`` are checked first
    (:func:`~dsgdn_pyg.training.checkpoint.check_own`). A non-finite loss
    or parameter raises :class:`TrainingDiverged`; ``best.pt`` then stays
    the last finite model, and ``diverged.json`` says where it stopped.
    """
    callback = callback or TrainCallback()
    out_dir = None if out_dir is None else Path(out_dir)
    training = _Training.build(corpus, model_config, config)
    run_config = run_configuration(corpus, model_config, config, request)
    progress = _begin(training, run_config, out_dir, resume)

    callback.on_run_start(config.seed, config.epochs)
    for epoch in range(progress.epoch + 1, config.epochs + 1):
        try:
            trained = _train_one_epoch(training, config, epoch, callback,
                                       _kept(progress, out_dir))
        except TrainingDiverged as exc:
            if out_dir is not None:  # what reports and sweeps read
                files.write_json(out_dir / files.DIVERGED,
                                 dict(epoch=epoch, error=str(exc)))
            raise
        evals = _measure(training)
        record = _epoch_record(trained, evals)
        record["best"] = _select(progress, epoch, evals, config.select_on)
        if record["best"] and out_dir is not None:
            progress.best_digest = save_best(out_dir, training.model, epoch,
                                             run_config)
        progress.history.append(record)
        progress.epoch = epoch
        if out_dir is not None:
            files.write_metrics(out_dir / files.METRICS, progress.history)
            save_last(out_dir, training.model, training.optimizer, progress,
                      training.loader_generator, training.draw, run_config)
        callback.on_epoch_end(record)

    result = _result(config, progress, out_dir)
    if out_dir is not None:
        write_report(out_dir, result, run_config["data"]["classes"])
    return result
