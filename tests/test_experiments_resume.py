"""A sweep killed with SIGKILL and started again ends with the same table
as one never interrupted; one stopped by Ctrl-C stops at once, and started
again finishes (two local worker processes)."""

import json
import os
import signal
import subprocess
import sys
import time

from dsgdn_pyg.experiments.report import collect

COMMAND = [sys.executable, "-c", "import sys; sys.argv[0] = 'dsgdn'; "
           "from dsgdn_pyg.cli import main; main()", "experiment", "run",
           "graph", "--only", "diff,none", "--seeds", "1,2", "--workers", "2",
           "--no-report", "--synthetic-dialogues", "12", "--hidden", "32",
           "--num-heads", "2", "--batch-size", "8", "--epochs", "4"]


def _sweep(out, **kwargs):
    return subprocess.Popen(COMMAND + ["--out", str(out)],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, **kwargs)


def _table(out):
    return [(r["cell"], r["weighted_f1"]["per_seed"],
             r["accuracy"]["per_seed"]) for r in collect(out)["rows"]]


def test_sigkill_then_restart_gives_the_same_table(tmp_path):
    killed = tmp_path / "killed"
    sweep = _sweep(killed)
    deadline = time.time() + 300
    metrics = [killed / c / f"seed-{s}" / "metrics.jsonl"
               for c in ("diff", "none") for s in (1, 2)]
    while not any(m.is_file() for m in metrics):
        assert sweep.poll() is None, sweep.stderr.read().decode()
        assert time.time() < deadline, "no run started"
        time.sleep(0.05)
    os.kill(sweep.pid, signal.SIGKILL)
    sweep.wait()
    states = [(m.parent / "summary.json").is_file() for m in metrics]
    assert not all(states), "the sweep ended before the kill"

    restarted = _sweep(killed)
    reference = _sweep(tmp_path / "reference")
    for process in (restarted, reference):
        assert process.wait(timeout=600) == 0, process.stderr.read().decode()
    table = _table(killed)
    assert not collect(killed)["missing"]
    assert table == _table(tmp_path / "reference")
    manifest = json.loads((killed / "experiment.json").read_text())
    assert [c["name"] for c in manifest["cells"]] == ["diff", "none"]


def test_ctrl_c_stops_running_and_queued_runs_then_they_resume(tmp_path):
    # Ctrl-C (SIGINT to the sweep's process group) stopped the running
    # runs, but the queued one was still trained before the sweep ended.
    out = tmp_path / "stopped"
    command = COMMAND[:COMMAND.index("graph")] + [
        "graph", "--only", "none", "--seeds", "1,2,3", "--workers", "2",
        "--no-report", "--synthetic-dialogues", "12", "--hidden", "32",
        "--num-heads", "2", "--batch-size", "8", "--epochs", "3",
        "--out", str(out)]
    runs = [out / "none" / f"seed-{s}" for s in (1, 2, 3)]
    sweep = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.time() + 300
        while not any((run / "metrics.jsonl").is_file() for run in runs):
            assert sweep.poll() is None, sweep.stderr.read().decode()
            assert time.time() < deadline, "no run started"
            time.sleep(0.05)
        os.killpg(sweep.pid, signal.SIGINT)
        assert sweep.wait(timeout=120) == 130
    finally:
        if sweep.poll() is None:  # a failed test leaves no sweep behind
            os.killpg(sweep.pid, signal.SIGKILL)
            sweep.wait()
    errors = sweep.stderr.read().decode().strip()
    assert errors.startswith("error: interrupted") and \
        len(errors.splitlines()) == 1, errors  # no worker's traceback
    assert not any((run / "summary.json").is_file() for run in runs)
    assert not (runs[2] / "config.json").exists()  # queued: never started

    again = subprocess.run(command, capture_output=True, text=True,
                           timeout=600)
    assert again.returncode == 0, again.stderr
    assert "held" not in again.stdout  # the stopped workers' locks are free
    assert not collect(out)["missing"]
