"""``dsgdn train`` and ``dsgdn evaluate``."""

import time
from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape
from rich.progress import (BarColumn, MofNCompleteColumn, Progress,
                           TextColumn, TimeElapsedColumn)
from rich.table import Table

from dsgdn_pyg.cli.common import console, err_console, given, user_errors
from dsgdn_pyg.errors import parse_int_list, refuse_together

SEED_HELP = "Random seed of the run (model init, batch order, dropout)."


class RichProgress:
    """A :class:`~dsgdn_pyg.training.TrainCallback` drawing two rich bars:
    epochs (with the validation F1) and the batches of the current epoch
    (with the running loss)."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.epochs = None
        self.batches = None
        self.loss_sum = 0.0
        self.count = 0

    def on_run_start(self, seed: int, epochs: int) -> None:
        for task in (self.epochs, self.batches):
            if task is not None:
                self.progress.remove_task(task)
        self.epochs = self.progress.add_task(f"seed {seed} epochs",
                                             total=epochs, info="")
        self.batches = self.progress.add_task("batches", total=1, info="")

    def on_epoch_start(self, epoch: int, num_batches: int) -> None:
        self.loss_sum, self.count = 0.0, 0
        self.progress.reset(self.batches, total=num_batches,
                            description=f"epoch {epoch} batches", info="")

    def on_batch_end(self, loss: float) -> None:
        self.loss_sum += loss
        self.count += 1
        self.progress.update(self.batches, advance=1,
                             info=f"loss {self.loss_sum / self.count:.4f}")

    def on_epoch_end(self, record: dict) -> None:
        star = " *" if record["best"] else ""
        self.progress.update(
            self.epochs, advance=1,
            info=f"valid F1 {100 * record['valid_f1']:.2f}{star}")


def _progress() -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                    MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("{task.fields[info]}"), console=console,
                    transient=False)


def _parse_seeds(seed: int, seeds: Optional[str]) -> List[int]:
    """``--seeds`` when given (an empty one or an empty item is an error,
    never seed 0), else ``[seed]``."""
    if seeds is None:
        return [seed]
    return parse_int_list("--seeds", seeds, distinct=True)


def _metrics_table(title: str, rows) -> Table:
    table = Table(title=title)
    for col in ("split", "weighted F1", "accuracy"):
        table.add_column(col, justify="right" if col != "split" else "left")
    for row in rows:
        table.add_row(*row)
    return table


def _per_class_table(classes, f1s,
                     title: str = "test per-class F1 (selected epoch)"
                     ) -> Table:
    table = Table(title=title)
    table.add_column("class")
    table.add_column("F1", justify="right")
    for name, value in zip(classes, f1s):
        table.add_row(name, f"{100 * value:.2f}")
    return table


def train(
    ctx: typer.Context,
    data: Optional[Path] = typer.Option(
        None, "--data", help="Feature bundle (.pkl: "
        "iemocap_multimodal_features.pkl or meld_multimodal_features.pkl) "
        "or dialogue "
        "folder (metadata .pkl + text/audio/visual .npz, e.g. "
        "../shared/data/iemocap or the output of `dsgdn features`). "
        "Default: the built-in synthetic dialogues."),
    preset: str = typer.Option(
        "iemocap", help="Published configuration and recipe: iemocap or "
        "meld. Every option below defaults to it."),
    modalities: str = typer.Option(
        "tav", help="Modalities to use: any non-empty subset of t, a, v."),
    epochs: Optional[int] = typer.Option(
        None, help="Training epochs (preset: 61 iemocap, 20 meld; 12 on "
        "the synthetic data)."),
    seed: int = typer.Option(0, help=SEED_HELP),
    seeds: Optional[str] = typer.Option(
        None, help="Several seeds, e.g. 1,2,3: one run each, then mean and "
        "std (not with --seed)."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    out: Optional[Path] = typer.Option(
        None, help="Run directory (default: runs/<data>-<modalities>-"
        "<time>). With several seeds, one sub-directory per seed."),
    lr: Optional[float] = typer.Option(None, help="Adam learning rate "
                                       "(preset: 6.8e-5 / 5e-5; 1e-3 on the synthetic data)."),
    weight_decay: Optional[float] = typer.Option(
        None, help="Adam weight decay (preset: 5e-5 / 7.5e-5)."),
    batch_size: Optional[int] = typer.Option(
        None, help="Dialogues per batch (preset: 16 / 64)."),
    dropout: Optional[float] = typer.Option(
        None, help="Encoder and classifier dropout (preset: 0.5 / 0.11)."),
    hidden: Optional[int] = typer.Option(None, help="Hidden size d_h "
                                         "(512)."),
    num_heads: Optional[int] = typer.Option(
        None, help="Transformer heads of the audio/visual encoders (8)."),
    graph_heads: Optional[int] = typer.Option(
        None, "--heads", help="Differential attention heads per DiffRGCN "
        "block (2)."),
    graph_dropout: Optional[float] = typer.Option(
        None, help="Dropout inside the DiffRGCN blocks (0.2)."),
    window: Optional[int] = typer.Option(
        None, help="Dialogue graph window w (preset: 20 / 6)."),
    graph_layer: str = typer.Option(
        "diff", help="Graph layer: diff (DiffRGCN), gat, gcn, none "
        "(ablations) or dense (the dense-adjacency baseline)."),
    modality_dropout: bool = typer.Option(
        True, help="Adaptive modality dropout after the warm-up."),
    warm_up: Optional[int] = typer.Option(
        None, "--warm-up", help="Epochs before modality dropout starts "
        "(preset: 60 / 0; 6 on the synthetic data)."),
    q_base: Optional[float] = typer.Option(
        None, help="Base modality drop probability (preset: 0.3 / 0.2)."),
    q_lambda: Optional[float] = typer.Option(
        None, help="Scaling of the relative performance (0.9)."),
    p_exe: Optional[float] = typer.Option(
        None, help="Probability a batch gets modality dropout "
        "(preset: 0.5 / 0.2)."),
    fusion_weights: Optional[str] = typer.Option(
        None, help="Fixed weights of the modalities' logits in the fusion, "
        "e.g. t=0.8,v=0.1,a=0.1 (the paper's Sec. 6.7); default: the "
        "published plain sum."),
    class_weights: bool = typer.Option(
        True, help="Use class weights: the preset's (IEMOCAP inverse "
        "frequency) or, with --classes data, the training labels' inverse "
        "frequency. The choice is printed at the start."),
    classes: str = typer.Option(
        "preset", help="Classes: 'preset' (the preset's; a label or class "
        "name of the data outside them is an error) or 'data' (the data's "
        "own, with class weights from the inverse frequency of the training "
        "labels unless --no-class-weights). The synthetic data always uses "
        "its own."),
    input_dims: str = typer.Option(
        "preset", help="Feature widths: 'preset' (widths must match the "
        "preset, else an error) or 'data' (take them from the data)."),
    select_on: str = typer.Option(
        "valid", help="Epoch selection: valid (honest) or test (the LEGACY "
        "protocol of the published code, labelled as such)."),
    split_seed: int = typer.Option(
        0, help="Seed of the carved validation split (when the data has no "
        "validation ids) and of the synthetic data."),
    valid_fraction: float = typer.Option(
        0.1, help="Fraction of training dialogues carved for validation "
        "when the data has no validation ids."),
    synthetic_dialogues: Optional[int] = typer.Option(
        None, help="Number of built-in synthetic dialogues (48) when "
        "--data is not given."),
    resume: Optional[Path] = typer.Option(
        None, "--resume", metavar="RUN_DIR", help="Carry on an interrupted "
        "run from its last finished epoch, with the options of its "
        "config.json (others given must agree; --device may change), after "
        "checking that its last.pt and best.pt are its own. The result "
        "equals the uninterrupted run's (best.pt byte for byte on CPU)."),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Clear the run already in --out first "
        "(without it, a directory holding a run is refused)."),
) -> None:
    """Train AMB-DSGDN, select the epoch on validation, report test there.

    With no arguments it trains on the built-in synthetic IEMOCAP-shaped
    dialogues (about a minute on a laptop CPU). Exit codes: 0 done, 2 bad
    option, data or output location (or disk full), 3 training diverged
    (non-finite loss or parameter; best.pt keeps the last finite model),
    130 interrupted (resume with --resume RUN_DIR).

    One process writes a run directory at a time (an OS lock on its .lock,
    freed even by kill -9): a second train or --resume of a run in progress
    is refused with the first's PID.
    """
    from dsgdn_pyg.models.amb_dsgdn import parse_fusion_weights
    from dsgdn_pyg.training.session import (TrainRequest, check_request,
                                            run_training)

    with user_errors():
        refuse_together("--resume", resume is not None, "--overwrite",
                        overwrite, "a resumed run keeps its files; choose one")
        refuse_together("--seed", given(ctx, "seed"), "--seeds",
                        seeds is not None, "--seeds replaces --seed; give one")
        fixed_fusion = parse_fusion_weights(fusion_weights)
        request = TrainRequest(
            data=str(data) if data is not None else None, preset=preset,
            modalities=modalities, seeds=_parse_seeds(seed, seeds),
            device=device, out=out, input_dims=input_dims,
            split_seed=split_seed, valid_fraction=valid_fraction,
            class_weights=class_weights, classes=classes,
            synthetic=(dict(num_dialogues=synthetic_dialogues)
                       if synthetic_dialogues is not None else None),
            model_overrides=dict(
                dropout=dropout, hidden=hidden, num_heads=num_heads,
                graph_heads=graph_heads, graph_dropout=graph_dropout,
                graph_layer=graph_layer, modality_dropout=modality_dropout,
                q_base=q_base, q_lambda=q_lambda, p_exe=p_exe,
                fusion_weights=fixed_fusion),
            train_overrides=dict(
                epochs=epochs, lr=lr, weight_decay=weight_decay,
                batch_size=batch_size, window=window, warm_up_epochs=warm_up,
                select_on=select_on), overwrite=overwrite)
        if resume is not None:
            request = _resumed_request(ctx, request, resume, device)
        check_request(request)
        with _progress() as progress:
            outcome = run_training(request, callback=RichProgress(progress),
                                   log=console.print)
    _print_outcome(outcome)


# Options whose field name in the resolved settings differs.
_SETTING_OF = {"seed": "seeds", "warm_up": "warm_up_epochs",
               "synthetic_dialogues": "synthetic"}
# Where and how, not what: free to change on --resume.
_FREE_ON_RESUME = {"device", "resume", "overwrite", "out"}


def _resumed_request(ctx: typer.Context, given, run_dir: Path, device: str):
    """The request stored in RUN_DIR; every option also given on the
    command line must resolve to the stored value."""
    from dsgdn_pyg.training.session import load_request, settings

    if given.out is not None and Path(given.out) != run_dir:
        raise ValueError(f"--out {given.out} and --resume {run_dir}: the "
                         f"run resumes in its own directory; drop --out")
    stored = load_request(run_dir)

    def given_here(name: str) -> bool:
        source = ctx.get_parameter_source(name)
        return source is not None and source.name == "COMMANDLINE"

    if given_here("device"):
        stored.device = device
    old, new = settings(stored), settings(given)
    for param in ctx.command.params:
        name = param.name
        if name in _FREE_ON_RESUME or not given_here(name):
            continue
        key = _SETTING_OF.get(name, name)
        if old.get(key) != new.get(key):
            raise ValueError(
                f"{param.opts[0]}: {run_dir} was started with "
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


def _print_outcome(outcome) -> None:
    results = outcome.results
    legacy = results[0].select_on == "test"
    title = ("LEGACY protocol: epoch selected on TEST" if legacy else
             "epoch selected on validation, test reported there")
    if len(results) == 1:
        r = results[0]
        rows = [(s, f"{100 * getattr(r, s).weighted_f1:.2f}",
                 f"{100 * getattr(r, s).accuracy:.2f}")
                for s in ("valid", "test")]
        console.print(_metrics_table(
            f"seed {r.seed}, best epoch {r.best_epoch} ({title})", rows))
        console.print(_per_class_table(outcome.classes, r.test.per_class_f1))
    else:
        table = Table(title=f"{len(results)} seeds ({title})")
        for col in ("seed", "best epoch", "valid F1", "test F1", "test acc"):
            table.add_column(col, justify="right")
        for r in results:
            table.add_row(str(r.seed), str(r.best_epoch),
                          f"{100 * r.valid.weighted_f1:.2f}",
                          f"{100 * r.test.weighted_f1:.2f}",
                          f"{100 * r.test.accuracy:.2f}")
        s = outcome.summary
        table.add_row("mean ± std", "",
                      _pm(s["valid_weighted_f1"]), _pm(s["test_weighted_f1"]),
                      _pm(s["test_accuracy"]), style="bold")
        console.print(table)
        mean_f1 = [sum(v) / len(v) for v in zip(
            *[r.test.per_class_f1 for r in results])]
        console.print(_per_class_table(
            outcome.classes, mean_f1,
            "test per-class F1 (selected epochs, mean over seeds)"))
    console.print(f"seconds per epoch (median): "
                  f"{results[0].seconds_per_epoch:.2f}")
    console.print(f"run directory: [bold]{outcome.out_dir}[/]")


def _pm(stat: dict) -> str:
    return f"{100 * stat['mean']:.2f} ± {100 * stat['std']:.2f}"


def evaluate(
    run_dir: Path = typer.Argument(..., help="A run directory written by "
                                   "`dsgdn train`: one seed's, or a run of "
                                   "several seeds (each evaluated, then "
                                   "mean and std)."),
    data: Optional[Path] = typer.Option(
        None, help="Data to evaluate on (default: the run's own data)."),
    split: str = typer.Option("test", help="train, valid or test."),
    device: str = typer.Option("cpu", help="auto, cpu or cuda."),
    noise: float = typer.Option(
        0.0, help="Gaussian noise added to every feature at test time, as "
        "a fraction of that feature's std on the training split (the "
        "paper's Sec. 6.5: 0-0.7)."),
    noise_seed: int = typer.Option(0, help="Seed of the --noise draw."),
    min_length: Optional[int] = typer.Option(
        None, help="Only the dialogues of at least this many utterances "
        "(the paper's Sec. 6.3 uses 20-50)."),
    max_length: Optional[int] = typer.Option(
        None, help="Only the dialogues of at most this many utterances."),
) -> None:
    """Reload a run's best checkpoint and report its metrics on a split.

    A run of several seeds (`dsgdn train --seeds`) is evaluated seed by
    seed: one row per seed, then mean ± std."""
    from dsgdn_pyg.training.runs import (evaluate_run, evaluate_seeds,
                                         seed_runs)

    from dsgdn_pyg.training.conditions import check_conditions

    with user_errors():
        check_conditions(noise, min_length, max_length)  # before loading
        start = time.perf_counter()
        if seed_runs(run_dir):
            rows = evaluate_seeds(run_dir, str(data) if data else None,
                                  split, device, noise=noise,
                                  noise_seed=noise_seed,
                                  min_length=min_length,
                                  max_length=max_length)
            _print_seeds(run_dir, split, rows, start)
            return
        metrics, config = evaluate_run(run_dir, str(data) if data else None,
                                       split, device, noise=noise,
                                       noise_seed=noise_seed,
                                       min_length=min_length,
                                       max_length=max_length)
    _warn_incomplete(run_dir, config)
    classes = config["data"]["classes"]
    console.print(_metrics_table(
        f"{run_dir} (epoch {config.get('epoch')}), {metrics.num_utterances} "
        f"utterances", [(split, f"{100 * metrics.weighted_f1:.2f}",
                         f"{100 * metrics.accuracy:.2f}")]))
    console.print(_per_class_table(classes, metrics.per_class_f1,
                                   f"{split} per-class F1"))
    table = Table(title="confusion matrix (rows true, columns predicted)")
    table.add_column("")
    for c in classes:
        table.add_column(c[:5], justify="right")
    for c, row in zip(classes, metrics.confusion):
        table.add_row(c, *[str(v) for v in row])
    console.print(table)
    console.print(f"evaluated in {time.perf_counter() - start:.1f} s")


def _warn_incomplete(run_dir: Path, config: dict) -> None:
    from dsgdn_pyg.training.run_dir import REPORT_JSON, run_status

    if run_status(run_dir) == "incomplete" and \
            not (run_dir / REPORT_JSON).is_file():
        err_console.print(
            f"[bold yellow]warning:[/] {escape(str(run_dir))} is an "
            f"incomplete run (interrupted, or still training: no "
            f"summary.json); evaluating its best checkpoint so far, epoch "
            f"{config.get('epoch')} (dsgdn train --resume RUN_DIR finishes "
            f"it)", highlight=False, soft_wrap=True)


def _print_seeds(run_dir: Path, split: str, rows, start: float) -> None:
    """The table of a run of several seeds: one row per seed, then mean ±
    std over them."""
    import numpy as np

    for _, path, _, config in rows:
        _warn_incomplete(path, config)
    table = Table(title=f"{run_dir}: {len(rows)} seeds, {split} split "
                  f"({rows[0][2].num_utterances} utterances)")
    for col in ("seed", "epoch", "weighted F1", "accuracy"):
        table.add_column(col, justify="right")
    for seed, _, metrics, config in rows:
        table.add_row(str(seed), str(config.get("epoch")),
                      f"{100 * metrics.weighted_f1:.2f}",
                      f"{100 * metrics.accuracy:.2f}")

    def pm(values) -> str:
        values = 100 * np.asarray(values)
        if len(values) == 1:
            return f"{values[0]:.2f}"
        return f"{values.mean():.2f} ± {values.std(ddof=1):.2f}"

    table.add_row("mean ± std" if len(rows) > 1 else "mean", "",
                  pm([m.weighted_f1 for _, _, m, _ in rows]),
                  pm([m.accuracy for _, _, m, _ in rows]), style="bold")
    console.print(table)
    classes = rows[0][3]["data"]["classes"]
    console.print(_per_class_table(
        classes, np.mean([m.per_class_f1 for _, _, m, _ in rows], 0),
        f"{split} per-class F1 (mean over seeds)"))
    console.print(f"evaluated in {time.perf_counter() - start:.1f} s")


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.command("evaluate")(evaluate)
