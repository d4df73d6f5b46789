"""``benchmarks/gpu.sh``, the one call that runs everything needing CUDA:
its logic (steps, limits, logs, carrying on past a failure, the exit code)
checked on the CPU at tiny sizes."""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu.sh"


def run(*args, **env):
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=900,
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
