"""``dsgdn experiment list|run|report``: the paper's experiments."""

from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from dsgdn_pyg.cli.common import console, fail, user_errors
from dsgdn_pyg.cli.options import SWEEP
from dsgdn_pyg.errors import parse_int_list, parse_list, refuse_together

# The train options a sweep takes as its own, as named annotations (a
# string subscript in an annotation reads to linters as a forward reference).
DataOption, PresetOption, ModalitiesOption, EpochsOption, InputDimsOption = (
    SWEEP[key] for key in ("data", "preset", "modalities", "epochs",
                           "input_dims"))

experiment_app = typer.Typer(
    help="The paper's experiments (Sec. 6): run a named grid of `dsgdn "
    "train` configurations over seeds (resumable, in parallel, on Ray or "
    "in shards), then tabulate and plot it.", no_args_is_help=True)


@experiment_app.command("list")
def list_experiments() -> None:
    """The experiments, what each varies and which table or figure of the
    paper it reproduces."""
    from dsgdn_pyg.experiments import EXPERIMENTS

    table = Table(title="dsgdn experiment run NAME")
    for col in ("name", "paper", "varies", "cells (iemocap)"):
        table.add_column(col)
    for e in EXPERIMENTS.values():
        varies = e.varies + (f" [needs {e.needs.split(' (')[0]}]"
                             if e.needs else "")
        table.add_row(e.name, e.reproduces, varies,
                      ", ".join(c.name for c in e.cells("iemocap")))
    console.print(table)


def _parse_cells(cells: Optional[List[str]]) -> dict:
    """``NAME='--option value ...'`` -> ``{NAME: ["--option", "value",
    ...]}`` (the library reads the words, once)."""
    out = {}
    for spec in cells or []:
        name, sep, options = spec.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--cell: expected NAME='--option value ...', "
                             f"got {spec!r}")
        out[name.strip()] = options.split()
    return out


@experiment_app.command(
    "run", context_settings=dict(allow_extra_args=True,
                                 ignore_unknown_options=True))
def run(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Experiment (see `dsgdn "
                               "experiment list`)."),
    data: DataOption = None,
    preset: PresetOption = None,
    modalities: ModalitiesOption = None,
    seeds: str = typer.Option("1,2,3", help="Seeds of every cell, e.g. "
                              "1,2,3."),
    epochs: EpochsOption = None,
    input_dims: InputDimsOption = None,
    out: Optional[Path] = typer.Option(
        None, help="Experiment folder (default: runs/experiments/NAME); "
        "one `dsgdn train` run directory per cell and seed."),
    workers: int = typer.Option(
        1, help="Local worker processes, each pinned to its share of the "
        "cores (or to its own GPU)."),
    executor: str = typer.Option("local", help="local or ray (a Ray "
                                 "cluster; needs the ray extra of "
                                 "dsgdn-pyg)."),
    address: Optional[str] = typer.Option(
        None, help="Ray cluster address (--executor ray; default: a local "
        "Ray instance)."),
    shard: Optional[str] = typer.Option(
        None, help="K/N: run only every N-th run from the K-th (job "
        "arrays, e.g. Slurm); the N shards together run each once."),
    only: Optional[str] = typer.Option(
        None, help="Comma-separated cells to run (a smaller grid)."),
    cell: Optional[List[str]] = typer.Option(
        None, help="Add (or replace) a cell: NAME='--option value ...' "
        "with `dsgdn train` options (NAME: letters, digits, -, _, ., not "
        "starting with . nor a file of the folder such as report.md); "
        "repeatable."),
    from_runs: Optional[Path] = typer.Option(
        None, help="long-dialogues and noise: measure the runs of this "
        "experiment folder instead of training the default cell (its seeds "
        "and options: base options given must be its own)."),
    report: bool = typer.Option(True, help="Write the report at the end."),
) -> None:
    """Run (or resume) every cell x seed of an experiment, then report.

    Any other `dsgdn train` option (e.g. --hidden 256, --window 10,
    --synthetic-dialogues 24) joins the base configuration. Runs already
    complete are not redone and interrupted ones are resumed, so the same
    command can be started again after a crash or Ctrl-C. Options, cells,
    data and the runs already in --out (each must be its cell's) are all
    checked before anything is written. Shards (or two sweeps) may run
    at once into one --out: each run is trained once, by the process that
    holds its lock; the others wait for it before their report.
    """
    from dsgdn_pyg.experiments import run_experiment
    from dsgdn_pyg.training.options import as_overrides, parse_options

    with user_errors():
        refuse_together("--address", address is not None,
                        f"--executor {executor}", executor != "ray",
                        "the address is of a Ray cluster; use --executor ray "
                        "or drop --address")
        folder = out or Path("runs") / "experiments" / name
        _check_out(folder, data, from_runs)
        # The base configuration: the other `dsgdn train` options, words
        # read once, here, then those of SWEEP given.
        base = dict(parse_options(ctx.args, "option"), **as_overrides(
            {key: ctx.params[key] for key in SWEEP
             if ctx.params[key] is not None}))
        outcome = run_experiment(
            name, base, parse_int_list("--seeds", seeds, distinct=True),
            folder, executor=executor,
            workers=workers, address=address, shard=shard,
            only=parse_list("--only", only, "cell names")
            if only is not None else None,
            extra_cells=_parse_cells(cell), from_runs=from_runs,
            report=report, log=console.print)
    if outcome["report"] is not None:
        _print_report(outcome["report"])
    if outcome["failed"]:
        raise fail(f"{len(outcome['failed'])} run(s) failed, first: "
                   f"{outcome['failed'][0]['cell']} seed "
                   f"{outcome['failed'][0]['seed']}: "
                   f"{outcome['failed'][0]['error']}")


def _check_out(folder: Path, data: Optional[Path],
               from_runs: Optional[Path]) -> None:
    """The experiment folder, before any run: a writable directory that is
    none of the inputs (the data, the --from-runs folder) and lies inside
    neither."""
    from dsgdn_pyg.io import check_not_input, check_writable

    check_writable(folder, "--out", directory=True)
    inputs = [("the --data", data), ("the --from-runs folder", from_runs)]
    check_not_input(folder, "--out", inputs=inputs, folders=inputs)


def _print_report(report: dict) -> None:
    from dsgdn_pyg.experiments.report import format_markdown
    console.print(format_markdown(report), markup=False, highlight=False)
    for path in report.get("written", []):
        console.print(f"wrote {path}")
    for note in report.get("notes", []):
        console.print(note)


@experiment_app.command("report")
def report_command(
    folder: Path = typer.Argument(..., help="An experiment folder (the "
                                  "--out of `dsgdn experiment run`)."),
    plot: bool = typer.Option(True, help="Also draw plot.png (needs "
                              "matplotlib: the bench extra)."),
) -> None:
    """Tabulate and plot an experiment folder: mean ± std over seeds per
    cell, the paper's number, the difference from the default cell with its
    95% confidence interval, and the runs still missing."""
    from dsgdn_pyg.experiments.report import write_report

    with user_errors():
        report = write_report(folder, plot=plot)
    _print_report(report)


def register(app: typer.Typer) -> None:
    app.add_typer(experiment_app, name="experiment")
