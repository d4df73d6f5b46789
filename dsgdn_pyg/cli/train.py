"""``dsgdn train`` and ``dsgdn evaluate``."""

import time
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.progress import (BarColumn, MofNCompleteColumn, Progress,
                           TextColumn, TimeElapsedColumn)
from rich.table import Table

from dsgdn_pyg.cli.common import console, err_console, user_errors
from dsgdn_pyg.cli.options import given_options, train_parameters


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


@train_parameters
def train(ctx: typer.Context, **values) -> None:
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
    from dsgdn_pyg.training.request import (check_locations,
                                            request_from_options, settings)

    given = given_options(ctx)
    with user_errors():
        request = request_from_options(values, given)
        settings(request)  # a bad option is refused before torch loads,
        check_locations(request)  # and a bad path
        from dsgdn_pyg.training.session import run_training

        progress = _progress()
        outcome = run_training(request, callback=RichProgress(progress),
                               log=console.print, given=given,
                               display=progress)
    _print_outcome(outcome)


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
    from dsgdn_pyg.errors import check_device_name
    from dsgdn_pyg.io import check_corpus_path
    from dsgdn_pyg.training.evaluation_options import (check_conditions,
                                                       check_split)
    from dsgdn_pyg.training.run_dir import check_run_dir

    with user_errors():
        # All before torch and PyG are imported, and the run is read.
        check_run_dir(run_dir)
        check_split(split)
        check_conditions(noise, min_length, max_length)
        check_device_name("--device", device)
        if data is not None:
            check_corpus_path(data, "--data")
        from dsgdn_pyg.training.runs import (evaluate_run, evaluate_seeds,
                                             seed_runs)
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
        f"{run_dir} ({_epoch(config)}), {metrics.num_utterances} "
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


def _legacy(config: dict) -> bool:
    """Whether a checkpoint's epoch was selected on test."""
    return config.get("train", {}).get("select_on") == "test"


def _epoch(config: dict) -> str:
    """The checkpoint's epoch and, under the legacy protocol, that it was
    selected on test."""
    return f"epoch {config.get('epoch')}" + (
        ", LEGACY protocol: selected on TEST" if _legacy(config) else "")


def _warn(message: str) -> None:
    err_console.print(f"[bold yellow]warning:[/] {escape(message)}",
                      highlight=False, soft_wrap=True)


def _warn_incomplete(run_dir: Path, config: dict,
                     resume: Optional[Path] = None) -> None:
    """:obj:`resume`: the run to resume, when :obj:`run_dir` is one of its
    seeds."""
    from dsgdn_pyg.training.run_dir import REPORT_JSON, divergence, run_status

    status = run_status(run_dir)
    if status == "diverged":
        _warn(f"{run_dir} did not finish: {divergence(run_dir)}; evaluating "
              f"its best checkpoint, epoch {config.get('epoch')}")
    elif status == "incomplete" and not (run_dir / REPORT_JSON).is_file():
        _warn(f"{run_dir} is an incomplete run (interrupted, or still "
              f"training: no summary.json); evaluating its best checkpoint "
              f"so far, epoch {config.get('epoch')} (dsgdn train --resume "
              f"{resume or run_dir} finishes it)")


def _print_seeds(run_dir: Path, split: str, rows, start: float) -> None:
    """The table of a run of several seeds: one row per seed, then mean ±
    std over them."""
    import numpy as np

    from dsgdn_pyg.training.runs import requested_seeds

    for _, path, _, config in rows:
        _warn_incomplete(path, config, resume=run_dir)
    asked = requested_seeds(run_dir)
    missing = [s for s in asked if s not in {seed for seed, *_ in rows}]
    if missing:
        several = len(missing) > 1
        _warn(f"{run_dir}: seed{'s' if several else ''} "
              f"{', '.join(map(str, missing))} of seeds "
              f"{', '.join(map(str, asked))} "
              f"{'have' if several else 'has'} no checkpoint yet; the mean "
              f"is over the other {len(rows)} (dsgdn train --resume "
              f"{run_dir} finishes the run)")
    count = f"{len(rows)} of {len(asked)}" if missing else str(len(rows))
    table = Table(title=f"{run_dir}: {count} seeds, {split} split "
                  f"({rows[0][2].num_utterances} utterances)" + (
                      ", LEGACY protocol: epochs selected on TEST"
                      if _legacy(rows[0][3]) else ""))
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
