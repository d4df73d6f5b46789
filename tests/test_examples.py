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


@pytest.mark.slow  # real data: 1-2 min of CPU on 2 cores
def test_cora_example_learns(shared_dir, capsys):
    root = shared_dir / "data" / "planetoid"
    if not (root / "Cora" / "raw").is_dir():
        pytest.skip(f"{root} holds no Cora/raw")
    script = runpy.run_path(str(EXAMPLES / "cora.py"))
    results = script["main"](["--root", str(root), "--seeds", "0",
                              "--epochs", "30"])
    # Seven classes: chance is about 0.14 (0.32 for the majority class).
    assert set(results) == {"gat", "diff", "diff-norm"}
    assert all(acc[0] > 0.6 for acc in results.values())
    printed = capsys.readouterr().out
    assert "GATConv" in printed and "DiffGATConv" in printed
    assert "over seeds [0], 30 epochs" in printed


def test_cora_example_without_data(tmp_path):
    script = runpy.run_path(str(EXAMPLES / "cora.py"))
    with pytest.raises(SystemExit) as exit_info:
        script["main"](["--root", str(tmp_path), "--epochs", "1"])
    message = str(exit_info.value)
    assert message.startswith("cora.py: Cora is not in ")
    assert "\n" not in message and "--root" in message
