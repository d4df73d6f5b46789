"""The user examples run and learn, and refuse bad input with one line."""

import re
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = ("cora.py", "edge_noise.py", "heterophily.py",
           "custom_pyg_model.py")


def error_line(capsys, script: str, *parts: str) -> str:
    """The argparse answer to bad input on stderr: its last line
    ``<script>: error: ...`` holds every one of :obj:`parts`; no traceback
    and nothing on stdout. (``test_studies.py`` imports it too.)"""
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and not captured.out
    line = captured.err.strip().splitlines()[-1]
    assert line.startswith(f"{script}: error: "), captured.err
    for part in parts:
        assert part in line, (part, line)
    return line


def undocumented(help_text: str) -> list:
    """The options of a ``--help`` output listed without a help text."""
    section = help_text.split("options:", 1)[1].split("\n\n")[0]
    entries, missing = [], []
    for line in section.splitlines()[1:]:
        if line.startswith("  -"):
            entries.append([line])
        elif entries:
            entries[-1].append(line)
    for entry in entries:
        invocation, *text = re.split(r"\s{2,}", entry[0].strip(), maxsplit=1)
        if not (text or any(line.strip() for line in entry[1:])):
            missing.append(invocation)
    return missing


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


def test_cora_example_without_data(tmp_path, capsys):
    script = runpy.run_path(str(EXAMPLES / "cora.py"))
    with pytest.raises(SystemExit) as exit_info:
        script["main"](["--root", str(tmp_path), "--epochs", "1"])
    # Bad input, as for a bad option: status 2 and one line.
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("cora.py: Cora is not in ")
    assert err.count("\n") == 1 and "--root" in err


@pytest.mark.parametrize("argv, option", [
    (["--seeds", "a"], "--seeds"), (["--seeds", "0,1,0"], "--seeds"),
    (["--seeds", "-1"], "--seeds"), (["--seeds", ","], "--seeds"),
    (["--epochs", "0"], "--epochs"), (["--layers", "gat,foo"], "--layers"),
    (["--layers", "gat,gat"], "--layers")])
def test_cora_bad_options_are_one_line_errors(tmp_path, capsys, argv,
                                              option):
    script = runpy.run_path(str(EXAMPLES / "cora.py"))
    with pytest.raises(SystemExit) as info:
        # No Cora in --root: an option accepted by mistake exits otherwise.
        script["main"](["--root", str(tmp_path)] + argv)
    assert info.value.code == 2
    line = error_line(capsys, "cora.py", option, "expected")
    # One option's rule, not a sentence listing every option's.
    assert sum(o in line for o in ("--seeds", "--epochs", "--layers")) == 1


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_option_has_help(script, capsys):
    namespace = runpy.run_path(str(EXAMPLES / script))
    entry = namespace["cli" if script == "custom_pyg_model.py" else "main"]
    with pytest.raises(SystemExit) as info:
        entry(["--help"])
    assert info.value.code == 0
    help_text = capsys.readouterr().out
    assert "--help" in help_text and "--" in help_text.replace("--help", "")
    assert undocumented(help_text) == []


def test_cora_docstring_names_its_layers():
    doc = runpy.run_path(str(EXAMPLES / "cora.py"))["__doc__"]
    first = doc.split("\n\n")[0]
    for name in ("GATConv", "DiffGATConv", "gat,diff,diff-norm", "gatv2",
                 "GATv2Conv", "LayerNorm"):
        assert name in first, name
    assert "once with" not in first


def test_custom_pyg_model_options(capsys):
    script = runpy.run_path(str(EXAMPLES / "custom_pyg_model.py"))
    for argv, part in ((["--bogus"], "unrecognized arguments: --bogus"),
                       (["extra"], "unrecognized arguments: extra"),
                       (["--steps", "0"], "--steps"),
                       (["--steps", "x"], "--steps"),
                       (["--seed", "-1"], "--seed")):
        with pytest.raises(SystemExit) as info:
            script["cli"](argv)
        assert info.value.code == 2, argv
        error_line(capsys, "custom_pyg_model.py", part)
    # The options are used: 10 steps print step 10 and no later one.
    assert script["cli"](["--steps", "10", "--seed", "1"]) == 0
    printed = capsys.readouterr().out
    assert "step  10" in printed and "step  20" not in printed


def run_as_script(path: Path, argv: list, monkeypatch) -> int:
    """Runs :obj:`path` as ``__main__`` with :obj:`argv`; its exit status.
    A KeyboardInterrupt that escapes fails the test (and not the session)."""
    monkeypatch.setattr(sys, "argv", [path.name] + argv)
    try:
        runpy.run_path(str(path), run_name="__main__")
    except SystemExit as exc:
        return exc.code
    except KeyboardInterrupt:
        pytest.fail(f"{path.name}: KeyboardInterrupt escaped its entry")
    return 0


def fake_planetoid(root: Path, name: str = "Cora") -> Path:
    """Empty raw files where the examples look for a Planetoid graph (they
    pass the check for missing files; reading them is patched away)."""
    raw = root / name / "raw"
    raw.mkdir(parents=True)
    for part in ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index"):
        (raw / f"ind.{name.lower()}.{part}").write_bytes(b"")
    return root


def interrupt(*args, **kwargs):
    raise KeyboardInterrupt


def test_cora_ctrl_c_is_one_line(tmp_path, monkeypatch, capsys):
    fake_planetoid(tmp_path)
    monkeypatch.setattr(shutil, "copytree", interrupt)  # while reading Cora
    code = run_as_script(EXAMPLES / "cora.py",
                         ["--root", str(tmp_path), "--seeds", "0"],
                         monkeypatch)
    assert code == 130
    err = capsys.readouterr().err
    assert err.startswith("cora.py: interrupted; ") and err.count("\n") == 1


def test_custom_pyg_model_ctrl_c_is_one_line(monkeypatch, capsys):
    monkeypatch.setattr(torch, "manual_seed", interrupt)
    code = run_as_script(EXAMPLES / "custom_pyg_model.py", [], monkeypatch)
    assert code == 130
    err = capsys.readouterr().err
    assert err.startswith("custom_pyg_model.py: interrupted")
    assert err.count("\n") == 1


def test_edge_noise_ctrl_c_before_any_level(tmp_path, monkeypatch, capsys):
    fake_planetoid(tmp_path)
    monkeypatch.setattr(shutil, "copytree", interrupt)
    out = tmp_path / "out"
    code = run_as_script(EXAMPLES / "edge_noise.py",
                         ["--root", str(tmp_path), "--out", str(out)],
                         monkeypatch)
    assert code == 130
    err = capsys.readouterr().err
    assert err == f"edge_noise.py: interrupted; nothing written to {out}\n"
    assert not out.exists()


@pytest.mark.slow  # a fresh interpreter per script: ~5-20 s each
@pytest.mark.parametrize("script", ["custom_pyg_model.py", "edge_noise.py"])
def test_unknown_argument_exits_2_as_a_script(script):
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), "--no-such-option"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr
    assert "unrecognized arguments: --no-such-option" in result.stderr
    assert "Traceback" not in result.stderr and not result.stdout
