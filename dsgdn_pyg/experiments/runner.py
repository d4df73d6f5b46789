"""`dsgdn experiment run` as a library call."""

from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from dsgdn_pyg.experiments import plan as planning
from dsgdn_pyg.experiments.executors import check_executor, run_tasks


def run_experiment(name: str, base_options: Sequence[str],
                   seeds: Sequence[int], out: Path, *,
                   executor: str = "local", workers: int = 1,
                   address: Optional[str] = None,
                   shard: Optional[str] = None,
                   only: Optional[Sequence[str]] = None,
                   extra_cells: Optional[Dict[str, Sequence[str]]] = None,
                   from_runs: Optional[Path] = None,
                   report: bool = True,
                   log: Callable[[str], None] = print) -> dict:
    """Runs (or resumes) every (cell, seed) of an experiment, or one shard
    of them, then writes the report. Runs already complete are not redone;
    interrupted ones are resumed. Checks all input before writing anything.
    Returns ``{"results": [...], "failed": [...], "report": ...}``."""
    shard_spec = planning.parse_shard(shard)
    check_executor(executor, workers)
    plan = planning.make_plan(name, base_options, seeds, out, only,
                              extra_cells, from_runs)
    todo = planning.shard_slice(planning.tasks(plan), shard_spec)
    planning.write_manifest(plan)
    log(f"{name} ({plan.experiment.reproduces}): {len(plan.cells)} cells x "
        f"{len(plan.seeds)} seeds"
        + (f", shard {shard}: {len(todo)} runs" if shard else "")
        + f" -> {plan.out}")

    results: List[dict] = []
    failed: List[dict] = []

    def done(task: dict, result: Optional[dict],
             error: Optional[BaseException]) -> None:
        count = len(results) + len(failed) + 1
        where = f"[{count}/{len(todo)}] {task['cell']} seed {task['seed']}"
        if error is not None:
            message = str(error).strip().splitlines()
            failed.append(dict(cell=task["cell"], seed=task["seed"],
                               error=f"{type(error).__name__}: "
                               f"{message[0] if message else ''}"))
            log(f"{where}: FAILED ({failed[-1]['error']})")
            return
        results.append(result)
        log(f"{where}: {result['status']} ({result['seconds']:.0f} s)")

    run_tasks(todo, done, executor, workers, address)
    written = None
    if report:
        from dsgdn_pyg.experiments.report import write_report
        written = write_report(plan.out)
    return dict(results=results, failed=failed, report=written)
