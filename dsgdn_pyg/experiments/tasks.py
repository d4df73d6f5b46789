"""One run of an experiment, as any executor runs it (in this process, in
a local worker process or on a Ray worker): train the (cell, seed) unless
its run directory is complete (resuming an interrupted one), then, for an
``evaluate`` experiment, measure the selected checkpoint under every
test-time condition.

All of it happens holding the run directory's lock (for the measurements
of another experiment's runs, the lock of the measurement's file): a run
that another process holds is not touched but reported ``held``, and the
sweep comes back to it, waiting, once its other runs are done."""

import json
import time
from pathlib import Path
from typing import List

import numpy as np

from dsgdn_pyg.experiments import plan as planning
from dsgdn_pyg.training import lock
from dsgdn_pyg.training import run_dir as files


def execute_task(task: dict) -> dict:
    """Runs :obj:`task` (see :func:`~dsgdn_pyg.experiments.plan.tasks`)
    holding its lock (waiting for it when ``task["wait"]``); returns
    ``{cell, seed, status, seconds}``, status ``trained``, ``done``
    (nothing left to do), ``evaluated`` (also again, where the run's
    ``best.pt`` changed since), ``measured`` (also again, where the cell's
    settings or the device changed since), ``diverged`` (a run that
    stopped on a non-finite value, not trained again; its ``error``),
    ``missing`` (an ``evaluate`` task whose run is not complete) or
    ``held`` (another process holds the run; its PID as ``pid``). A run
    directory holding a run of other options is a one-line ``ValueError``,
    the run left as it is."""
    start = time.perf_counter()
    record = dict(cell=task["cell"], seed=task["seed"])
    if task["train"] or task["kind"] == "overhead":
        folder, name = Path(task["run_dir"]), lock.LOCK
    else:  # another experiment's run: lock this experiment's measurement
        path = Path(task["evaluation"])
        folder, name = path.parent, f".{path.stem}.lock"
    files.make_dir(folder)
    try:
        with lock.hold(folder, f"{task['cell']} seed {task['seed']}",
                       wait=task.get("wait", False), name=name):
            return _execute(task, record, start)
    except lock.RunLocked as exc:
        return dict(record, status="held", pid=exc.pid,
                    seconds=time.perf_counter() - start)


def _execute(task: dict, record: dict, start: float) -> dict:
    if task["kind"] == "overhead":
        from dsgdn_pyg.experiments.overhead import measure_task
        status = "done"
        if _stale_overhead(Path(task["overhead"]), task):
            measure_task(task)
            status = "measured"
        return dict(record, status=status,
                    seconds=time.perf_counter() - start)

    path = Path(task["run_dir"])
    status = "done"
    state = files.run_status(path)
    planning.check_run(task)
    if task["train"] and state == "diverged":
        # Trained again it diverges again (a resume is exact): a failure
        # to report, not a run to redo.
        return dict(record, status="diverged", error=files.divergence(path),
                    seconds=time.perf_counter() - start)
    if task["train"] and state != "complete":
        from dsgdn_pyg.training.session import (request_from_options,
                                                run_training)
        request = request_from_options(task["settings"], seeds=[task["seed"]],
                                       out=path, resume=state == "incomplete")
        run_training(request, log=lambda *args: None)
        status = "trained"
    if task["kind"] == "evaluate":
        evaluation = Path(task["evaluation"])
        if files.run_status(path) != "complete":
            status = "missing"
        elif _stale(evaluation, path):
            # The digest first: a checkpoint replaced meanwhile then makes
            # this measurement stale, never one of another model.
            digest = files.file_digest(path / files.CHECKPOINT)
            files.write_json(evaluation, dict(
                run_dir=str(path), seed=task["seed"], cell=task["cell"],
                checkpoint=dict(path=str(path / files.CHECKPOINT),
                                sha256=digest),
                conditions=evaluate_conditions(path, task["conditions"])))
            status = "evaluated" if status == "done" else status
    return dict(record, status=status, seconds=time.perf_counter() - start)


def _stale(evaluation: Path, run: Path) -> bool:
    """Whether the measurement :obj:`evaluation` of :obj:`run` is missing,
    unreadable or of another ``best.pt`` than the run holds now."""
    try:
        record = json.loads(evaluation.read_text())
    except (OSError, ValueError):
        return True
    return planning.stale_evaluation(record, run) is not None


def _stale_overhead(path: Path, task: dict) -> bool:
    """Whether the ``overhead.json`` :obj:`path` is missing, unreadable or
    a measurement of other settings than the task's (a cell's options
    changed, or another --device)."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return True
    return planning.stale_overhead(record, task) is not None


def evaluate_conditions(path: Path, conditions: List[dict]) -> dict:
    """The test metrics of a run's selected checkpoint under each
    condition, averaged over the condition's noise seeds (each one kept)."""
    from dsgdn_pyg.training.conditions import feature_std
    from dsgdn_pyg.training.runs import (evaluate_condition, load_model,
                                         load_run_corpus)

    model, config = load_model(path)
    corpus = load_run_corpus(config)
    scale = feature_std(corpus.train, list(config["model"]["input_dims"]))
    out = {}
    for cond in conditions:
        seeds = cond["noise_seeds"] if cond["noise"] else [0]
        runs = [evaluate_condition(
            model, config, corpus, "test", noise=cond["noise"],
            noise_seed=seed, min_length=cond["min_length"],
            max_length=cond["max_length"], feature_scale=scale)
            for seed in seeds]
        out[cond["name"]] = dict(
            weighted_f1=float(np.mean([m.weighted_f1 for m in runs])),
            accuracy=float(np.mean([m.accuracy for m in runs])),
            per_noise_seed=[dict(noise_seed=s, weighted_f1=m.weighted_f1,
                                 accuracy=m.accuracy)
                            for s, m in zip(seeds, runs)],
            confusion=np.sum([m.confusion for m in runs], 0).tolist(),
            num_utterances=runs[0].num_utterances)
    return out
