"""The scripts in ``benchmarks/`` besides ``gpu.sh`` (``test_gpu_sh.py``):
``paths.py`` and ``profile_block.py`` refuse a bad option with one line
naming it (exit 2) before torch loads and end on Ctrl-C with one line (exit
130); ``run_cpu.sh`` prints its help without running anything and passes
its options to ``dsgdn bench``."""

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"


@pytest.fixture
def no_torch(tmp_path):
    """A ``PYTHONPATH`` whose ``torch`` ends the process (exit 99): a script
    that imports torch before checking its options fails with it."""
    fake = tmp_path / "no-torch" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        "import sys\nsys.stderr.write('torch imported\\n')\nsys.exit(99)\n")
    return dict(os.environ, PYTHONPATH=str(fake.parent))


def one_line_refusal(interpreter, script, *args, env=None):
    """Runs ``interpreter benchmarks/<script> args`` from the repository
    root and asserts a refusal at once: within 20 s (a loop that never ends
    fails here), exit 2, no stdout, one line on stderr, no traceback.
    Returns the line (also for ``test_gpu_sh.py``)."""
    try:
        result = subprocess.run([interpreter, str(BENCHMARKS / script),
                                 *args], cwd=ROOT, capture_output=True,
                                text=True, timeout=20, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{script} {' '.join(args)}: still running after 20 s")
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def stand_ins(tmp_path, scripts, **folders):
    """Writes each ``name: text`` of :obj:`scripts` as an executable
    ``tmp_path/bin/name`` and each ``VAR="name"`` of :obj:`folders` as an
    empty ``tmp_path/name``; returns ``os.environ`` with ``bin`` first on
    ``PATH`` and each ``VAR`` naming its folder (also for
    ``test_gpu_sh.py``)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in scripts.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    for name in folders.values():
        (tmp_path / name).mkdir()
    return dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
                **{var: str(tmp_path / name)
                   for var, name in folders.items()})


@pytest.mark.parametrize("args, message", [
    (["--repeats", "0"], "argument --repeats: expected an integer >= 1, got "
     "'0'"),
    (["--repeats", "two"], "argument --repeats: expected an integer >= 1, "
     "got 'two'"),
    (["--repeats"], "argument --repeats: expected one argument"),
    (["--threads", "-1"], "argument --threads: expected an integer >= 1, "
     "got '-1'"),
    (["--threads=0"], "argument --threads: expected an integer >= 1, got "
     "'0'"),
    (["--bogus"], "unrecognized arguments: --bogus"),
])
def test_paths_refuses_a_bad_option_before_torch(no_torch, args, message):
    assert one_line_refusal(sys.executable, "paths.py", *args,
                            env=no_torch) == f"paths.py: error: {message}"


@pytest.mark.parametrize("args, message", [
    (["--threads", "-1"], "argument --threads: expected an integer >= 1, "
     "got '-1'"),
    (["--lengths", "0"], "argument --lengths: expected an integer >= 1, got "
     "'0'"),
    (["--lengths", "1.5"], "argument --lengths: expected an integer >= 1, "
     "got '1.5'"),
    (["--batch", "0"], "argument --batch: expected an integer >= 1, got "
     "'0'"),
    (["--window", "-1"], "argument --window: expected an integer >= 0, got "
     "'-1'"),
    (["--rows", "0"], "argument --rows: expected an integer >= 1, got '0'"),
    (["--lengths"], "argument --lengths: expected one argument"),
    (["--layer", "rgcn"], "argument --layer: invalid choice: 'rgcn' (choose "
     "from 'sparse', 'dense', 'gat')"),
    (["--layer", "dense", "--layout", "csr"], "argument --layout: applies to "
     "--layer sparse only, got --layer dense"),
    (["extra"], "unrecognized arguments: extra"),
])
def test_profile_block_refuses_a_bad_option_before_torch(no_torch, args,
                                                         message):
    assert one_line_refusal(sys.executable, "profile_block.py", *args,
                            env=no_torch) == \
        f"profile_block.py: error: {message}"


@pytest.mark.parametrize("script", ["paths.py", "profile_block.py"])
def test_every_option_has_a_help_text(script):
    spec = importlib.util.spec_from_file_location(
        f"bench_script_{script[:-3]}", BENCHMARKS / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # defines only: torch loads in run()
    actions = module.make_parser()._actions
    assert len(actions) > 1
    for action in actions:
        assert action.help and action.help.strip(), action.option_strings


@pytest.mark.parametrize("script", ["paths.py", "profile_block.py"])
def test_ctrl_c_is_one_line_exit_130(script):
    proc = subprocess.Popen([sys.executable, str(BENCHMARKS / script)],
                            cwd=ROOT, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        # Interrupted while torch loads (its library mapped: the script is
        # past Python's start); the whole run is under the same handler.
        maps, deadline = Path(f"/proc/{proc.pid}/maps"), time.monotonic() + 8
        while time.monotonic() < deadline:
            try:
                if "libtorch" in maps.read_text():
                    break
            except OSError:  # no /proc: wait long enough instead
                time.sleep(2)
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stdout + stderr
    assert stderr.splitlines() == [f"{script}: interrupted"]


@pytest.fixture
def fake_tools(tmp_path):
    """``dsgdn`` and ``python`` stand-ins that record their arguments and
    folder in ``calls/<name>`` and exit ``$FAKE_RC`` (default 0)."""
    record = ('#!/bin/sh\necho "$PWD|$*" >> "$FAKE_CALLS/$(basename "$0")"\n'
              'exit "${FAKE_RC:-0}"\n')
    return stand_ins(tmp_path, dict.fromkeys(("dsgdn", "python"), record),
                     FAKE_CALLS="calls"), tmp_path / "calls"


def run_cpu(*args, env, cwd=ROOT, **extra):
    try:
        return subprocess.run(["sh", str(BENCHMARKS / "run_cpu.sh"), *args],
                              cwd=cwd, capture_output=True, text=True,
                              timeout=20, env=dict(env, **extra))
    except subprocess.TimeoutExpired:
        pytest.fail(f"run_cpu.sh {' '.join(args)}: still running after 20 s")


def calls_of(calls, name):
    path = calls / name
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.parametrize("args", [["--help"], ["-h"],
                                  ["--out", "x", "--help"]])
def test_run_cpu_help_runs_nothing(fake_tools, args):
    env, calls = fake_tools
    result = run_cpu(*args, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("The committed CPU results")
    assert "Usage: sh benchmarks/run_cpu.sh" in result.stdout
    assert "-h, --help" in result.stdout
    assert list(calls.iterdir()) == []


@pytest.mark.parametrize("args, message", [
    (["--device", "cuda"], "run_cpu.sh: --device: not taken, this is the CPU "
     "run (dsgdn bench --device cpu); for CUDA see benchmarks/gpu.sh"),
    (["--device=cpu"], "run_cpu.sh: --device: not taken, this is the CPU "
     "run (dsgdn bench --device cpu); for CUDA see benchmarks/gpu.sh"),
    (["layers"], "run_cpu.sh: unexpected argument 'layers' (expected "
     "options of dsgdn bench; see --help)"),
])
def test_run_cpu_refuses_what_is_not_the_cpu_run(fake_tools, args, message):
    env, calls = fake_tools
    result = run_cpu(*args, env=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [message]
    assert list(calls.iterdir()) == []


def test_run_cpu_passes_its_options_to_dsgdn_bench(fake_tools, tmp_path):
    env, calls = fake_tools
    result = run_cpu("--threads", "3", "--out", "res", "--quick", env=env,
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert calls_of(calls, "dsgdn") == [
        f"{ROOT}|bench --device cpu --threads 3 --out res --quick"]
    assert calls_of(calls, "python") == [
        f"{ROOT}|benchmarks/paths.py --threads 3"]


def test_run_cpu_stops_when_dsgdn_bench_refuses(fake_tools):
    env, calls = fake_tools
    result = run_cpu("--repeats", "0", env=env, FAKE_RC="2")
    assert result.returncode == 2
    assert len(calls_of(calls, "dsgdn")) == 1
    assert calls_of(calls, "python") == []  # paths.py did not run
