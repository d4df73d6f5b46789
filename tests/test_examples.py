"""The user examples run and learn."""

import runpy
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_custom_pyg_model_learns(capsys):
    script = runpy.run_path(str(EXAMPLES / "custom_pyg_model.py"))
    metrics = script["main"]()
    # Two balanced classes: chance is 0.5.
    assert metrics["test_acc"] > 0.7
    assert metrics["train_acc"] > 0.9
    assert metrics["loss"] < 0.5
    printed = capsys.readouterr().out
    assert "step  50" in printed and "attention weights (" in printed


@pytest.mark.slow  # a fresh interpreter: ~5-10 s on 2 cores
def test_custom_pyg_model_runs_as_script():
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "custom_pyg_model.py")],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "test acc" in result.stdout
    assert "Traceback" not in result.stderr
