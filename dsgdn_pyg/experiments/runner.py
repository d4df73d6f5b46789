"""`dsgdn experiment run` as a library call."""

from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from dsgdn_pyg.errors import MissingExtraError
from dsgdn_pyg.experiments import plan as planning
from dsgdn_pyg.experiments.executors import check_executor, run_tasks
from dsgdn_pyg.training.request import request_from_options


def run_experiment(name: str, base_options: planning.Options,
                   seeds: Sequence[int], out: Path, *,
                   executor: str = "local", workers: int = 1,
                   address: Optional[str] = None,
                   shard: Optional[str] = None,
                   only: Optional[Sequence[str]] = None,
                   extra_cells: Optional[Dict[str, planning.Options]] = None,
                   from_runs: Optional[Path] = None,
                   report: bool = True,
                   log: Callable[[str], None] = print) -> dict:
    """Runs (or resumes) every (cell, seed) of an experiment, or one shard
    of them, then writes the report. Runs already complete are not redone;
    interrupted ones are resumed. Checks all input, the data of every run
    included (read once, here), and that no run directory holds a run of
    other options than its cell's, before writing anything.

    Several processes may work on one folder at once (shards of a job
    array, or the same command twice): each run is trained by the one
    process holding its lock; the others skip it and, once their own runs
    are done, wait for it before their report. Returns ``{"results": [...],
    "failed": [...], "report": ...}``."""
    shard_spec = planning.parse_shard(shard)
    check_executor(executor, workers)
    plan = planning.make_plan(name, base_options, seeds, out, only,
                              extra_cells, from_runs)
    todo = planning.shard_slice(planning.tasks(plan), shard_spec)
    for task in todo:  # a run of other options is the user's: kept
        planning.check_run(task)
    training = [request_from_options(t["settings"], seeds=[t["seed"]],
                                     out=Path(t["run_dir"]))
                for t in todo if t["train"]]
    if training:  # the data: read once, with torch, once all else is good
        from dsgdn_pyg.training.session import check_data
        check_data(training, log)
    planning.write_manifest(plan)
    log(f"{name} ({plan.experiment.reproduces}): {len(plan.cells)} cells x "
        f"{len(plan.seeds)} seeds"
        + (f", shard {shard}: {len(todo)} runs" if shard else "")
        + f" -> {plan.out}")

    results: List[dict] = []
    failed: List[dict] = []
    held: List[dict] = []

    def done(task: dict, result: Optional[dict],
             error: Optional[BaseException]) -> None:
        # [k/N]: the k-th run settled (a held run is counted once done).
        what = f"{task['cell']} seed {task['seed']}"
        where = f"[{len(results) + len(failed) + 1}/{len(todo)}] {what}"
        message = None if error is None else _one_line(error)
        if error is None and result["status"] == "diverged":
            message = (f"{result['error']} (in an earlier sweep; move "
                       f"{task['run_dir']} away to train it again)")
        if message is not None:
            failed.append(dict(cell=task["cell"], seed=task["seed"],
                               error=message))
            log(f"{where}: FAILED ({failed[-1]['error']})")
            return
        if result["status"] == "held":
            held.append(task)
            log(f"{what}: held by another process (PID {result['pid']}), "
                f"back to it at the end")
            return
        results.append(result)
        log(f"{where}: {result['status']} ({result['seconds']:.0f} s)")

    run_tasks(todo, done, executor, workers, address)
    if held:
        waiting = [dict(task, wait=True) for task in held]
        held.clear()
        log(f"waiting for the {len(waiting)} run(s) other processes hold")
        run_tasks(waiting, done, executor, workers, address)
    written = None
    if report:
        from dsgdn_pyg.experiments.report import write_report
        written = write_report(plan.out)
    return dict(results=results, failed=failed, report=written)


def _one_line(error: BaseException) -> str:
    """A run's error on one line: the message of bad input or data as it
    is, the exception's name before any other."""
    message = str(error).strip().splitlines()
    text = message[0] if message else ""
    if isinstance(error, (ValueError, MissingExtraError)):
        return text or type(error).__name__
    return f"{type(error).__name__}: {text}"
