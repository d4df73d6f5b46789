"""``benchmarks/gpu.sh``, the one call that runs everything needing CUDA:
its logic (steps, limits, logs, carrying on past a failure, the exit code)
checked on the CPU at tiny sizes."""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from test_bench_scripts import one_line_refusal, stand_ins

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu.sh"


def run(*args, timeout=900, cwd=ROOT, **env):
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, **env))


def refused(*args, **env):
    """The script's one-line answer to options it must refuse at once
    (:func:`one_line_refusal`: within 20 s, exit 2)."""
    return one_line_refusal("bash", SCRIPT.name, *args,
                            env=dict(os.environ, **env))


def test_dry_run_lists_the_cuda_steps_and_writes_nothing(tmp_path):
    out = tmp_path / "res"
    result = run("--dry-run", "--out", str(out))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"output: {out}"
    steps = [line.split(" ")[0] for line in lines[1:]]
    assert steps == ["pytest", "layers", "blocks", "train"]
    text = result.stdout
    assert "-m gpu tests" in text
    assert "dsgdn bench layers --device cuda" in text
    assert "dsgdn bench --device cuda" in text
    assert "dsgdn train --device cuda" in text and "--modalities t" in text
    # The default limits fit the 8 minutes of a lent H200.
    limits = [int(line.split("(limit ")[1].split(" s)")[0])
              for line in lines[1:]]
    assert sum(limits) <= 8 * 60
    assert not out.exists()


def test_help_is_the_header_comment():
    result = run("--help")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Everything that needs CUDA")
    assert any(line.startswith("Usage: benchmarks/gpu.sh") for line in lines)
    assert lines[-1].endswith("../shared/data/iemocap).")  # nothing after


def test_bad_option_is_one_line_exit_2(tmp_path):
    result = run("--device", "tpu", "--out", str(tmp_path / "res"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "gpu.sh: --device: expected cuda or cpu, got 'tpu'"]
    assert not (tmp_path / "res").exists()


@pytest.mark.parametrize("args, message", [
    (["--device"], "gpu.sh: --device: expected cuda or cpu after it, got "
     "nothing"),
    (["--out"], "gpu.sh: --out: expected a folder after it, got nothing"),
    (["--dry-run", "--device", "cpu", "--out"],
     "gpu.sh: --out: expected a folder after it, got nothing"),
    (["--out", "--dry-run"],
     "gpu.sh: --out: expected a folder after it, got the option '--dry-run'"),
    (["--out="], "gpu.sh: --out: expected a folder, got ''"),
    (["--out", ""], "gpu.sh: --out: expected a folder, got ''"),
    (["--device="], "gpu.sh: --device: expected cuda or cpu, got ''"),
    (["--dry-run=yes"], "gpu.sh: --dry-run: takes no value, got "
     "'--dry-run=yes'"),
    (["--bogus"], "gpu.sh: unknown option '--bogus' (expected --device, "
     "--out, --overwrite, --dry-run or --help)"),
    (["--dry-run", "extra"], "gpu.sh: unknown option 'extra' (expected "
     "--device, --out, --overwrite, --dry-run or --help)"),
])
def test_missing_value_or_unknown_option_is_one_line_exit_2(args, message):
    assert refused(*args) == message


@pytest.mark.parametrize("value", ["0", "-5", "1.5", "ten", "",
                                   # would wrap around in bash's arithmetic
                                   "18446744073709551617"])
def test_bad_time_limit_is_refused_before_any_step(tmp_path, value):
    out = tmp_path / "res"
    assert refused("--device", "cpu", "--out", str(out),
                   LIMIT_BLOCKS=value) == (
        f"gpu.sh: LIMIT_BLOCKS: expected a whole number of seconds from 1 "
        f"to 999999999, got '{value}'")
    assert not out.exists()


def test_help_documents_every_option_and_the_cpu_default_out():
    text = run("--help", timeout=20).stdout
    for option in ("--device D", "--out DIR", "--overwrite", "--dry-run",
                   "-h, --help"):
        assert f"\n  {option}  " in text, option
    assert "benchmarks/results/gpu-sh-cpu-check" in text
    for name in ("LIMIT_PYTEST", "LIMIT_LAYERS", "LIMIT_BLOCKS",
                 "LIMIT_TRAIN", "$IEMOCAP", "$DSGDN_DATA"):
        assert name in text, name


def test_cpu_default_out_is_the_one_the_help_names():
    # --overwrite: a checkout that ran gpu.sh --device cpu before holds it.
    result = run("--device", "cpu", "--dry-run", "--overwrite", timeout=20)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == \
        "output: benchmarks/results/gpu-sh-cpu-check"


def test_relative_out_is_taken_from_the_callers_folder(tmp_path):
    result = run("--device", "cpu", "--out", "res", "--dry-run",
                 cwd=tmp_path, timeout=20)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == f"output: {tmp_path / 'res'}"
    assert f"--out {tmp_path / 'res'}/layers" in result.stdout


def test_earlier_run_is_kept_unless_overwrite_is_asked_for(tmp_path):
    out = tmp_path / "res"
    out.mkdir()
    (out / "steps.tsv").write_text("step\tstatus\n")
    for args in (["--dry-run"], []):
        assert refused("--device", "cpu", "--out", str(out), *args) == (
            f"gpu.sh: output folder {out}: holds an earlier run of gpu.sh; "
            f"pass --overwrite to replace its results, or --out DIR for a "
            f"new folder")
    assert (out / "steps.tsv").read_text() == "step\tstatus\n"
    result = run("--device", "cpu", "--out", str(out), "--overwrite",
                 "--dry-run", timeout=20)
    assert result.returncode == 0, result.stderr
    steps = {line.split(" ")[0]: line for line in
             result.stdout.splitlines()[1:]}
    for step in ("layers", "blocks", "train"):
        assert " --overwrite " in steps[step], steps[step]
    assert "--overwrite" not in steps["pytest"]


def test_a_new_folder_gets_no_overwrite(tmp_path):
    result = run("--out", str(tmp_path / "res"), "--dry-run", timeout=20)
    assert result.returncode == 0, result.stderr
    assert "--overwrite" not in result.stdout


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_text("x"), "is not a folder (expected a new or empty "
     "folder; --out DIR chooses another)"),
    (lambda p: (p.mkdir(), (p / "notes.txt").write_text("x")),
     "holds files that gpu.sh did not write (no steps.tsv); expected a new "
     "or empty folder (--out DIR)"),
])
def test_out_that_is_not_a_gpu_sh_folder_is_refused(tmp_path, make,
                                                    message):
    out = tmp_path / "res"
    make(out)
    for extra in ([], ["--overwrite"]):
        assert refused("--device", "cpu", "--out", str(out), *extra) == \
            f"gpu.sh: output folder {out}: {message}"


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130),
                                       (signal.SIGTERM, 143)])
def test_ctrl_c_stops_the_running_step_and_the_script(tmp_path, sig, code):
    # Stand-ins for python and dsgdn: each records its pid, then sleeps.
    sleep = ('#!/bin/sh\necho $$ > "$FAKE_PIDS/$(basename "$0")"\n'
             'exec sleep 60\n')
    env = stand_ins(tmp_path, dict.fromkeys(("python", "dsgdn"), sleep),
                    FAKE_PIDS="pids")
    pids, out = tmp_path / "pids", tmp_path / "o"
    proc = subprocess.Popen(["bash", str(SCRIPT), "--device", "cpu", "--out",
                             str(out)], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    sleeper = pids / "python"
    try:
        deadline = time.monotonic() + 15
        while not sleeper.is_file() or not sleeper.read_text().strip():
            assert time.monotonic() < deadline, "the pytest step never began"
            time.sleep(0.05)
        pid = int(sleeper.read_text())
        os.killpg(proc.pid, sig)  # as a terminal's Ctrl-C does
        stdout, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == code, stdout + stderr
    name = signal.Signals(sig).name
    assert stderr.splitlines() == [
        f"gpu.sh: interrupted ({name}) during step pytest; results so far: "
        f"{out} (steps.tsv, logs/)"]
    rows = (out / "steps.tsv").read_text().splitlines()
    assert [row.split("\t")[:3] for row in rows[1:]] == [
        ["pytest", "interrupted", str(code)]]
    assert not (pids / "dsgdn").exists()  # no later step ran
    deadline = time.monotonic() + 5
    while True:  # the step's process was stopped too
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            pytest.fail("the interrupted step is still running")
        time.sleep(0.05)


def test_each_step_is_recorded_and_a_failure_does_not_stop_the_rest(
        tmp_path):
    # Stand-ins: pytest sleeps past its limit, the layer suite fails.
    out = tmp_path / "o"
    env = stand_ins(tmp_path, {
        "python": '#!/bin/sh\n[ "$1" = -m ] && exec sleep 30\n'
                  'echo fake torch\n',
        "dsgdn": '#!/bin/sh\necho "dsgdn $*"\n[ "$2" = layers ] && exit 3\n'
                 'exit 0\n'})
    result = run("--device", "cpu", "--out", str(out), timeout=60,
                 LIMIT_PYTEST="1", PATH=env["PATH"])
    assert result.returncode == 1, result.stdout + result.stderr
    rows = [line.split("\t") for line in
            (out / "steps.tsv").read_text().splitlines()[1:]]
    assert [row[:3] for row in rows] == [
        ["pytest", "timed-out", "124"], ["layers", "failed", "3"],
        ["blocks", "ok", "0"], ["train", "ok", "0"]]
    assert [row[4] for row in rows] == ["1", "180", "120", "120"]
    log = (out / "logs" / "train.log").read_text()
    assert log.startswith(f"dsgdn train --device cpu --out {out}/train ")
    assert (out / "environment.txt").read_text() == "fake torch\n"
    assert result.stdout.splitlines()[-1] == \
        f"results: {out} (steps.tsv, logs/)"


@pytest.mark.slow  # four real steps at tiny sizes: ~1-2 min on 2 cores
def test_cpu_run_keeps_every_log_and_carries_on_past_a_failure(tmp_path):
    out = tmp_path / "res"
    # A 1-second limit times the pytest step out; the others must still run.
    result = run("--device", "cpu", "--out", str(out), LIMIT_PYTEST="1")
    assert result.returncode == 1, result.stdout + result.stderr
    rows = [line.split("\t") for line in
            (out / "steps.tsv").read_text().splitlines()]
    assert rows[0][:3] == ["step", "status", "exit"]
    status = {r[0]: r[1] for r in rows[1:]}
    assert status == {"pytest": "timed-out", "layers": "ok", "blocks": "ok",
                      "train": "ok"}, (out / "steps.tsv").read_text()
    for step in status:
        assert (out / "logs" / f"{step}.log").is_file()
    assert (out / "layers" / "results.json").is_file()
    assert (out / "layers" / "plot.png").is_file()
    assert (out / "blocks" / "results.json").is_file()
    assert any((out / "train").iterdir())
    assert (out / "environment.txt").read_text().strip()
    assert "timed-out" in result.stdout and f"results: {out}" in \
        result.stdout
