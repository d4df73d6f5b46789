"""Training and evaluation of AMB-DSGDN with validation-based selection.

The epoch with the best validation weighted F1 is kept and test is reported
at that epoch. Selecting on test (what the published code does) exists only
as the labelled legacy protocol, :obj:`select_on="test"`.
"""

import json
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
from torch_geometric.loader import DataLoader

from dsgdn_pyg import __version__
from dsgdn_pyg.data.dialogue_graph import NODE_TYPE
from dsgdn_pyg.errors import DataError, TrainingDiverged
from dsgdn_pyg.models.amb_dsgdn import AMBDSGDN, ModelConfig, amb_dsgdn_loss
from dsgdn_pyg.training import run_dir as files
from dsgdn_pyg.training.config import TrainConfig


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


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; an unknown device, or one
    this torch cannot use, is a :class:`ValueError` naming ``--device``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"--device: expected auto, cpu or cuda[:N], got "
                         f"{name!r}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"--device {name}: torch sees no CUDA device; "
                             f"use --device cpu or auto")
        if device.index is not None and \
                device.index >= torch.cuda.device_count():
            raise ValueError(f"--device {name}: torch sees "
                             f"{torch.cuda.device_count()} CUDA device(s)")
    elif device.type != "cpu":
        raise ValueError(f"--device: expected auto, cpu or cuda[:N], got "
                         f"{name!r}")
    return device


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass
class SplitMetrics:
    """Metrics of one split (scikit-learn, over all its utterances)."""
    weighted_f1: float
    accuracy: float
    per_class_f1: List[float]
    confusion: List[List[int]]
    num_utterances: int

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def to_device(batch, device: torch.device):
    """Moves a batch to :obj:`device`, first noting its longest dialogue
    (read on the host, where ``ptr`` still is) so the model needs no
    host-device sync for it."""
    ptr = batch[NODE_TYPE].ptr
    batch.max_dialogue_length = int((ptr[1:] - ptr[:-1]).max()) \
        if ptr.numel() > 1 else 0
    return batch.to(device)


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


def rng_states(loader_generator: torch.Generator,
               draw: random.Random) -> dict:
    """Every random state a run draws from: torch (CPU and CUDA), numpy,
    Python, the DataLoader's shuffle generator and the trainer's
    :class:`random.Random` of the modality-dropout draws (Alg. 2). numpy's
    key becomes a tensor so that ``weights_only`` loading reads it."""
    state = np.random.get_state(legacy=False)
    return dict(
        torch=torch.get_rng_state(),
        cuda=torch.cuda.get_rng_state_all() if torch.cuda.is_available()
        else [],
        numpy=dict(state, state=dict(
            key=torch.from_numpy(state["state"]["key"].astype(np.int64)),
            pos=state["state"]["pos"])),
        python=random.getstate(), loader=loader_generator.get_state(),
        draw=draw.getstate())


def set_rng_states(states: dict, loader_generator: torch.Generator,
                   draw: random.Random) -> None:
    """Restores what :func:`rng_states` recorded."""
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    numpy = dict(states["numpy"])
    numpy["state"] = dict(key=numpy["state"]["key"].numpy().astype(
        np.uint32), pos=numpy["state"]["pos"])
    np.random.set_state(numpy)
    random.setstate(_as_tuples(states["python"]))
    loader_generator.set_state(states["loader"])
    draw.setstate(_as_tuples(states["draw"]))


def _as_tuples(value):
    """Python's random state with its nested tuples (a checkpoint may hand
    them back as lists)."""
    if isinstance(value, (list, tuple)):
        return tuple(_as_tuples(v) for v in value)
    return value


@torch.no_grad()
def predict_split(model: AMBDSGDN, loader: DataLoader, device: torch.device):
    """Predicted classes, labels and probabilities of every utterance of a
    loader, in loader order (one host copy at the end)."""
    model.eval()
    preds, labels, probs = [], [], []
    for batch in loader:
        batch = to_device(batch, device)
        out = model(batch)
        probs.append(out.log_probs.exp())
        preds.append(out.log_probs.argmax(-1))
        labels.append(batch[NODE_TYPE].y)
    if not preds:
        return np.zeros(0, int), np.zeros(0, int), np.zeros((0, 0))
    return (torch.cat(preds).cpu().numpy(), torch.cat(labels).cpu().numpy(),
            torch.cat(probs).cpu().numpy())


def split_metrics(pred: np.ndarray, label: np.ndarray,
                  num_classes: int) -> SplitMetrics:
    classes = list(range(num_classes))
    return SplitMetrics(
        weighted_f1=float(f1_score(label, pred, average="weighted",
                                   zero_division=0)) if len(label) else 0.0,
        accuracy=float(accuracy_score(label, pred)) if len(label) else 0.0,
        per_class_f1=[float(v) for v in f1_score(
            label, pred, labels=classes, average=None, zero_division=0)],
        confusion=confusion_matrix(label, pred, labels=classes).tolist(),
        num_utterances=int(len(label)))


def evaluate(model: AMBDSGDN, graphs: Sequence, device: torch.device,
             batch_size: int = 16) -> SplitMetrics:
    """Weighted F1, accuracy, per-class F1 and confusion matrix of a list
    of dialogue graphs."""
    loader = DataLoader(list(graphs), batch_size=batch_size, shuffle=False)
    pred, label, _ = predict_split(model, loader, device)
    return split_metrics(pred, label, model.config.num_classes)


@dataclass
class RunResult:
    """The outcome of one seed."""
    seed: int
    best_epoch: int
    select_on: str
    valid: SplitMetrics
    test: SplitMetrics
    seconds_per_epoch: float
    history: List[dict] = field(default_factory=list)
    run_dir: Optional[str] = None


def corpus_metadata(corpus) -> dict:
    """What a checkpoint records about its data, to rebuild inputs later."""
    return dict(name=corpus.name, source=corpus.source,
                classes=list(corpus.classes),
                modality_dims=dict(corpus.modality_dims),
                num_speakers=corpus.num_speakers,
                speaker_vocab=corpus.speaker_vocab,
                valid_source=corpus.valid_source,
                extractors=getattr(corpus, "extractors", None))


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
    (:func:`check_own`). A non-finite loss or parameter raises
    :class:`TrainingDiverged`; ``best.pt`` then stays the last finite
    model.
    """
    callback = callback or TrainCallback()
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
        split: DataLoader(getattr(corpus, split), batch_size=config.batch_size)
        for split in ("valid", "test")
    }

    meta = corpus_metadata(corpus)
    run_config = dict(version=__version__, model=model_config.to_dict(),
                      train=config.to_dict(), data=meta)
    if request is not None:
        run_config["request"] = request
    history: List[dict] = []
    best = None
    best_digest = None
    first = 1
    if out_dir is not None:
        out_dir = Path(out_dir)
        if resume and (out_dir / files.LAST).is_file():
            state = files.load_checkpoint(out_dir, files.LAST)
            best_digest = check_own(out_dir, state, run_config)
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            history = list(state["history"])
            best = state["best"]
            if best is not None:
                best = (best["score"], best["epoch"],
                        SplitMetrics(**best["valid"]),
                        SplitMetrics(**best["test"]))
            first = state["epoch"] + 1
            set_rng_states(state["rng"], generator, draw)
        files.write_json(out_dir / files.CONFIG, run_config)

    callback.on_run_start(config.seed, config.epochs)
    for epoch in range(first, config.epochs + 1):
        start = time.perf_counter()
        model.train()
        balance = epoch > config.warm_up_epochs
        callback.on_epoch_start(epoch, len(loader))
        try:
            total = train_epoch(model, loader, optimizer, device,
                                class_weight, balance, draw,
                                callback.on_batch_end)
            name = non_finite_parameter(model)
            if name is not None:
                raise TrainingDiverged(f"after its last batch, parameter "
                                       f"{name!r} is not finite")
        except TrainingDiverged as exc:
            kept = (f"best.pt keeps epoch {best[1]}, the last finite model"
                    if best is not None and out_dir is not None else
                    "no model was kept")
            raise TrainingDiverged(
                f"training diverged at epoch {epoch}, {exc} ({kept}; try a "
                f"lower --lr)") from None
        seconds = time.perf_counter() - start

        evals = {}
        for split, split_loader in eval_loaders.items():
            pred, label, _ = predict_split(model, split_loader, device)
            evals[split] = split_metrics(pred, label, model_config.num_classes)
        record = dict(epoch=epoch,
                      train_loss=total / max(len(loader), 1),
                      modality_dropout=balance,
                      valid_f1=evals["valid"].weighted_f1,
                      valid_acc=evals["valid"].accuracy,
                      test_f1=evals["test"].weighted_f1,
                      test_acc=evals["test"].accuracy,
                      epoch_seconds=seconds)
        score = evals[config.select_on].weighted_f1
        improved = best is None or score > best[0]
        if improved:
            best = (score, epoch, evals["valid"], evals["test"])
            if out_dir is not None:
                best_digest = files.save_checkpoint(
                    out_dir / files.CHECKPOINT,
                    dict(state_dict=model.state_dict(), epoch=epoch,
                         **run_config))
        record["best"] = improved
        history.append(record)
        if out_dir is not None:
            files.write_metrics(out_dir / files.METRICS, history)
            files.save_checkpoint(out_dir / files.LAST, dict(
                model=model.state_dict(), optimizer=optimizer.state_dict(),
                epoch=epoch, history=history, rng=rng_states(generator, draw),
                run=files.identity_digest(run_config),
                best=dict(score=best[0], epoch=best[1],
                          valid=best[2].to_dict(), test=best[3].to_dict(),
                          sha256=best_digest)))
        callback.on_epoch_end(record)

    _, best_epoch, valid, test = best
    result = RunResult(
        seed=config.seed, best_epoch=best_epoch, select_on=config.select_on,
        valid=valid, test=test,
        seconds_per_epoch=float(np.median([r["epoch_seconds"]
                                           for r in history])),
        history=history, run_dir=str(out_dir) if out_dir else None)
    if out_dir is not None:
        write_report(out_dir, result, meta["classes"])
    return result


def check_own(run_dir: Path, state: dict, run_config: dict) -> Optional[str]:
    """Checks that the ``last.pt`` state :obj:`state` and the run's
    ``best.pt`` are this run's own before a resume carries them on: the
    configuration digest that ``last.pt`` records must be the run's, and
    ``best.pt`` the file whose SHA-256 it records (or, where a kill fell
    between the two writes of an improving epoch, this run's checkpoint of
    the epoch after, which the resume computes again). Returns the digest
    of the ``best.pt`` in place; a one-line :class:`DataError` otherwise.
    (A ``last.pt`` of an older version records neither: not checked.)"""
    where = f"--resume {run_dir}"
    recorded = state.get("run")
    if recorded is not None and recorded != files.identity_digest(run_config):
        raise DataError(f"{where}: {files.LAST} is not this run's (it "
                        f"records another configuration); restore the "
                        f"run's own {files.LAST}, or start it again with "
                        f"--overwrite")
    expected = (state.get("best") or {}).get("sha256")
    if expected is None:
        return None
    path = Path(run_dir) / files.CHECKPOINT
    if not path.is_file():
        raise DataError(f"{where}: {files.CHECKPOINT} is missing ({files.LAST}"
                        f" records the one of epoch {state['best']['epoch']});"
                        f" restore it, or start the run again with "
                        f"--overwrite")
    digest = files.file_digest(path)
    if digest == expected:
        return digest
    try:
        best = files.load_checkpoint(run_dir)
        own = best.get("epoch") == state["epoch"] + 1 and \
            files.identity({k: best.get(k) for k in run_config}) == \
            files.identity(run_config)
    except DataError:
        own = False
    if not own:
        raise DataError(f"{where}: {files.CHECKPOINT} is not this run's (its "
                        f"SHA-256 is not the one {files.LAST} records for "
                        f"epoch {state['best']['epoch']}); restore the run's "
                        f"own {files.CHECKPOINT}, or start it again with "
                        f"--overwrite")
    return digest


def check_finished(run_dir: Path) -> None:
    """Checks that a finished seed's ``best.pt`` is the one its ``last.pt``
    records (a one-line :class:`DataError` otherwise)."""
    run_dir = Path(run_dir)
    if not (run_dir / files.LAST).is_file():
        return
    state = files.load_checkpoint(run_dir, files.LAST)
    expected = (state.get("best") or {}).get("sha256")
    path = run_dir / files.CHECKPOINT
    if expected is not None and (not path.is_file() or
                                 files.file_digest(path) != expected):
        raise DataError(f"--resume {run_dir}: {files.CHECKPOINT} is not this "
                        f"run's (its SHA-256 is not the one {files.LAST} "
                        f"records); restore the run's own {files.CHECKPOINT}")


def load_result(run_dir: Path) -> RunResult:
    """The :class:`RunResult` of a finished seed, read back from its
    ``report.json`` and ``metrics.jsonl``."""
    run_dir = Path(run_dir)
    report = json.loads((run_dir / files.REPORT_JSON).read_text())
    history = [json.loads(line) for line in
               (run_dir / files.METRICS).read_text().splitlines() if line]
    return RunResult(
        seed=report["seed"], best_epoch=report["best_epoch"],
        select_on=report["selected_on"],
        valid=SplitMetrics(**report["valid"]),
        test=SplitMetrics(**report["test"]),
        seconds_per_epoch=report["seconds_per_epoch"], history=history,
        run_dir=str(run_dir))


def summarize(results: Sequence[RunResult]) -> Dict[str, Dict[str, float]]:
    """Mean and (sample) standard deviation over seeds of the selected
    epochs' metrics."""
    out = {}
    for split in ("valid", "test"):
        for metric in ("weighted_f1", "accuracy"):
            values = np.array([getattr(getattr(r, split), metric)
                               for r in results])
            out[f"{split}_{metric}"] = dict(
                mean=float(values.mean()),
                std=float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                values=values.tolist())
    return out


def report_dict(result: RunResult, classes: Sequence[str]) -> dict:
    return dict(seed=result.seed, best_epoch=result.best_epoch,
                selected_on=result.select_on,
                legacy_protocol=result.select_on == "test",
                classes=list(classes), valid=result.valid.to_dict(),
                test=result.test.to_dict(),
                seconds_per_epoch=result.seconds_per_epoch)


def write_report(out_dir: Path, result: RunResult,
                 classes: Sequence[str]) -> None:
    """``report.json`` and a readable ``report.md`` with the confusion
    matrix."""
    files.write_json(Path(out_dir) / files.REPORT_JSON,
                     report_dict(result, classes))
    files.write_text(Path(out_dir) / files.REPORT_MD,
                     format_report(result, classes))


def format_report(result: RunResult, classes: Sequence[str]) -> str:
    protocol = ("LEGACY protocol: epoch selected on TEST"
                if result.select_on == "test" else
                "epoch selected on validation")
    lines = [f"# Run report (seed {result.seed})", "",
             f"Best epoch {result.best_epoch} ({protocol}).", "",
             "| split | weighted F1 | accuracy | utterances |",
             "|---|---|---|---|"]
    for split in ("valid", "test"):
        m = getattr(result, split)
        lines.append(f"| {split} | {100 * m.weighted_f1:.2f} | "
                     f"{100 * m.accuracy:.2f} | {m.num_utterances} |")
    lines += ["", "## Test per-class F1", "", "| class | F1 |", "|---|---|"]
    lines += [f"| {c} | {100 * f:.2f} |"
              for c, f in zip(classes, result.test.per_class_f1)]
    lines += ["", "## Test confusion matrix (rows true, columns predicted)",
              "", "| | " + " | ".join(classes) + " |",
              "|---" * (len(classes) + 1) + "|"]
    lines += [f"| {c} | " + " | ".join(str(v) for v in row) + " |"
              for c, row in zip(classes, result.test.confusion)]
    return "\n".join(lines) + "\n"
