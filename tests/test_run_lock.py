"""One writer per run directory, with real processes: a second `dsgdn
train` of a run in progress is refused naming the first's PID; a lock
holder killed with SIGKILL leaves no stale lock; two sweeps, or shards of
one grid, started at once into one folder train each run exactly once and
end with the whole table."""

import collections
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import fault_runner
from fault_runner import run

from dsgdn_pyg.experiments.report import collect
from dsgdn_pyg.training import run_dir as files

TINY = ["--synthetic-dialogues", "12", "--hidden", "16", "--num-heads", "2",
        "--batch-size", "4", "--warm-up", "1", "--device", "cpu"]
ENV = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
           COLUMNS="200")

# `dsgdn ARGS` that appends the run directory of every training it starts
# to the file $TRAIN_LOG (one line each).
COUNTING = """
import os, sys
from dsgdn_pyg.training import session
real = session.train_run
def counted(corpus, model_config, config, out_dir=None, *args, **kwargs):
    with open(os.environ["TRAIN_LOG"], "a") as log:
        log.write(f"{out_dir}\\n")
    return real(corpus, model_config, config, out_dir, *args, **kwargs)
session.train_run = counted
sys.argv = ["dsgdn", *sys.argv[1:]]
from dsgdn_pyg.cli import main
main()
"""
SWEEP = ["experiment", "run", "graph", "--only", "diff,none", "--seeds",
         "1,2", *TINY, "--epochs", "2"]
RUNS = [f"{cell}/seed-{seed}" for cell in ("diff", "none") for seed in (1, 2)]


def _wait(condition, process, what: str, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while not condition():
        assert process.poll() is None, process.stderr.read().decode()
        assert time.time() < deadline, what
        time.sleep(0.02)


def _stopped(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] == "T"


def _one_line_error(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    return lines[0]


def test_second_writer_is_refused_and_sigkill_frees_the_lock(tmp_path):
    out = tmp_path / "run"
    # Stopped (SIGSTOP) in epoch 2's first batch: alive, holding the lock.
    first = subprocess.Popen(
        [sys.executable, fault_runner.__file__, "batch", "4", "SIGSTOP",
         "--", "train", *TINY, "--epochs", "3", "--out", str(out)],
        env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait(lambda: _stopped(first.pid), first, "never reached batch 4")
        assert (out / ".lock").read_text().strip() == str(first.pid)
        before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
        for args in (["train", "--resume", out],
                     ["train", *TINY, "--epochs", "3", "--out", out]):
            line = _one_line_error(run(args))
            assert f"PID {first.pid}" in line and str(out) in line, line
        # The refused writers touched nothing (not even temporaries).
        assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == \
            before
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    resumed = run(["train", "--resume", out])
    assert resumed.returncode == 0, resumed.stderr
    assert files.run_status(out) == "complete"
    assert not (out / ".lock").exists()  # released


def test_lock_of_a_killed_holder_is_free_at_once(tmp_path):
    from dsgdn_pyg.training import lock

    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\n"
         "from dsgdn_pyg.training import lock\n"
         "with lock.hold(sys.argv[1], 'x'):\n"
         "    print('held', flush=True); time.sleep(120)", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert holder.stdout.readline().strip() == b"held"
    try:
        with lock.hold(tmp_path, "run"):
            raise AssertionError("two holders")
    except lock.RunLocked as exc:
        assert exc.pid == holder.pid
        assert f"PID {holder.pid}" in str(exc)
    holder.kill()
    holder.wait()
    with lock.hold(tmp_path, "run") as path:  # no waiting, no stale lock
        assert path.read_text().strip() == str(os.getpid())
    assert not path.exists()


def _sweeps(tmp_path, out, *extras):
    """The sweeps ``SWEEP + extra`` started at once into :obj:`out`; waits
    for all, returns the run directories trained (with repeats)."""
    log = tmp_path / "trained.log"
    env = dict(ENV, TRAIN_LOG=str(log))
    processes = [subprocess.Popen(
        [sys.executable, "-c", COUNTING, *SWEEP, *extra, "--out", str(out)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for extra in extras]
    for process in processes:
        assert process.wait(timeout=600) == 0, process.stderr.read().decode()
    return [str(Path(line).relative_to(out)) for line in
            log.read_text().splitlines()]


def _assert_whole(out):
    report = collect(out)
    assert not report["missing"]
    assert [(r["cell"], r["seeds"]) for r in report["rows"]] == \
        [("diff", [1, 2]), ("none", [1, 2])]
    written = (out / "report.md").read_text()
    assert "No run is missing." in written, written


def test_two_sweeps_at_once_train_each_run_once(tmp_path):
    out = tmp_path / "sweep"
    trained = _sweeps(tmp_path, out, [], [])
    assert collections.Counter(trained) == {run: 1 for run in RUNS}
    _assert_whole(out)
    assert not list(out.rglob(".lock"))


def test_shards_at_once_one_requeued_train_each_run_once(tmp_path):
    """A job array's two shards and a requeued copy of the first, all at
    once into one folder (the copy finds shard 1's runs held or done)."""
    out = tmp_path / "sweep"
    trained = _sweeps(tmp_path, out, ["--shard", "1/2"], ["--shard", "2/2"],
                      ["--shard", "1/2"])
    assert collections.Counter(trained) == {run: 1 for run in RUNS}
    _assert_whole(out)
