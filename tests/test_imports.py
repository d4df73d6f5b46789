"""No import cycle inside the package: module-level and deferred
(function-level) imports alike, since a deferred import that closes a cycle
only hides it."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import dsgdn_pyg

PACKAGE = Path(dsgdn_pyg.__file__).resolve().parent


def _modules(package: Path) -> dict:
    """Dotted module name -> source path of every module of the package."""
    modules = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _imports(name: str, path: Path, modules: dict) -> set:
    """The package's modules that ``name`` imports anywhere in its source.
    ``from a.b import c`` imports the module ``a.b.c`` if there is one, else
    the package ``a.b``; an import of one of its own parent packages is
    left out, as Python has run those already."""
    def owner(dotted: str) -> str:
        while dotted and dotted not in modules:
            dotted = dotted.rpartition(".")[0]
        return dotted

    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(owner(a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's own package
                package = name if path.name == "__init__.py" else \
                    name.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = ".".join(p for p in (package, base) if p)
            found.update(f"{base}.{a.name}" if f"{base}.{a.name}" in modules
                         else owner(base) for a in node.names)
    return {m for m in found
            if m and m != name and not name.startswith(m + ".")}


def import_cycles(package: Path) -> list:
    """The strongly connected components of more than one module of the
    package's import graph (Tarjan's algorithm, iteratively)."""
    modules = _modules(package)
    graph = {name: sorted(_imports(name, path, modules))
             for name, path in modules.items()}
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(graph[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for succ in edges:
                if succ not in index:
                    index[succ] = low[succ] = len(index)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(graph[succ])))
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        cycles.append(sorted(component))
    return cycles


def test_the_package_has_no_import_cycle():
    assert len(_modules(PACKAGE)) > 50
    assert import_cycles(PACKAGE) == []


def test_a_deferred_import_cycle_is_found(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("from pkg.a import A\n")
    (package / "a.py").write_text("A = 1\n\ndef f():\n"
                                  "    from .sub import b\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "b.py").write_text("from pkg import a\n")
    (package / "sub" / "c.py").write_text("import pkg.sub.b\nimport os\n")
    assert import_cycles(package) == [["pkg.a", "pkg.sub.b"]]
    (package / "sub" / "b.py").write_text("import pkg\n")  # a parent only
    assert import_cycles(package) == []


HEAVY = ("torch", "torch_geometric", "sklearn", "scipy", "matplotlib")
# Runs `dsgdn ARGS` for each (args, exit code, message) read as JSON from
# argv, in this one fresh interpreter, then prints the heavy modules it
# imported on the way: none, for the test to pass.
FRESH_CLI = """
import json, sys
from typer.testing import CliRunner
from dsgdn_pyg.cli import app
runner = CliRunner()
for args, code, message in json.loads(sys.argv[1]):
    result = runner.invoke(app, args)
    assert result.exit_code == code, (args, result.output)
    assert message in result.output, (args, result.output)
print(",".join(m for m in {heavy!r} if m in sys.modules))
""".format(heavy=HEAVY)


def run_without_heavy_imports(cases, cwd=None) -> None:
    """Every ``(args, message)`` of :obj:`cases` (or ``(args, code,
    message)``) gives its exit code (2 unless given) and message in one
    fresh interpreter that never imports torch, PyG, scikit-learn, scipy or
    matplotlib."""
    cases = [list(c) if len(c) == 3 else [c[0], 2, c[1]] for c in cases]
    result = subprocess.run([sys.executable, "-c", FRESH_CLI,
                             json.dumps(cases)], capture_output=True,
                            text=True, timeout=120, cwd=cwd)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def check_lazy_exports(package) -> None:
    """Each name of a lazy package's ``__all__`` is there, in ``dir``, and
    an unknown name is an ``AttributeError`` naming it."""
    assert set(package.__all__) <= set(dir(package))
    for name in package.__all__:
        assert getattr(package, name) is not None
    with pytest.raises(AttributeError, match="no_such_name"):
        package.no_such_name


def test_cli_help_imports_neither_torch_nor_pyg():
    # `dsgdn --help` took 10 s on a 2-core machine when the CLI imported
    # the training package, which imported torch, PyG and scikit-learn.
    run_without_heavy_imports([
        (args, 0, "") for args in (
            ["--help"], ["--version"], ["train", "--help"],
            ["evaluate", "--help"], ["features", "--help"],
            ["predict", "--help"], ["experiment", "--help"],
            ["attention", "--help"], ["bench", "--help"],
            ["bench", "layers", "--help"])])


def test_the_training_package_still_exports_its_names():
    import dsgdn_pyg.training as training
    from dsgdn_pyg.training.trainer import train_run
    assert training.train_run is train_run
    check_lazy_exports(training)


def test_a_bad_train_option_is_refused_before_torch_is_imported(tmp_path):
    # Each of these took about 10 s to be refused when the checks ran after
    # torch, PyG and scikit-learn were imported (the paths until later).
    (tmp_path / "notes.txt").write_text("mine\n")
    run_without_heavy_imports([(["train", *args], message) for args, message in (
        (["--epochs", "0"], "--epochs: expected an integer >= 1"),
        (["--device", "tpu"], "--device: expected auto, cpu or cuda"),
        (["--hidden", "7"], "hidden: expected an even width"),
        (["--preset", "imdb"], "preset: expected one of"),
        (["--seed", "1", "--seeds", "2,3"], "--seed and --seeds"),
        (["--modalities", "x"], "modalities: expected a non-empty subset"),
        (["--data", "absent"], "--data absent: no such file or directory"),
        (["--data", "notes.txt"], "--data notes.txt: a file without the"),
        (["--out", "/proc/x"], "--out /proc/x: cannot create files"),
        (["--out", "notes.txt"], "--out notes.txt: is a file"),
        (["--resume", "absent"], "--resume absent: no run to resume"))],
        cwd=tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]  # no run
    assert (tmp_path / "notes.txt").read_text() == "mine\n"


def test_the_model_package_still_exports_its_names():
    import dsgdn_pyg.models as models
    from dsgdn_pyg.models.amb_dsgdn import AMBDSGDN, ModelConfig
    assert models.AMBDSGDN is AMBDSGDN and models.ModelConfig is ModelConfig
    check_lazy_exports(models)


def test_a_bad_bench_option_is_refused_before_torch_is_imported(tmp_path):
    # Each of these took about 9 s to be refused when the configurations
    # lived beside the measurements, in modules that import torch and PyG.
    run_without_heavy_imports([(["bench", *args], message) for args, message in (
        (["--repeats", "0"], "--repeats: expected >= 1"),
        (["--lengths", "0"], "--lengths: expected positive dialogue"),
        (["--device", "tpu"], "--device: expected auto, cpu or cuda"),
        (["--heads", "0"], "--heads: expected >= 1, got 0"),
        (["--channels", "-2"], "--channels: expected an even width >= 2"),
        (["--channels", "7"], "--channels: expected an even width >= 2"),
        (["--out", "/proc/x"], "--out /proc/x: cannot create files"),
        (["layers", "--layers", "foo"], "--layers: expected gat"),
        (["layers", "--cases", "imagenet"], "--cases: expected some of"),
        (["layers", "--repeats", "0"], "--repeats: expected >= 1"),
        (["layers", "--quick", "--repeats", "0"], "--repeats: expected"),
        (["--quick", "--repeats", "0"], "--repeats: expected >= 1"),
        (["layers", "--device", "tpu"], "--device: expected auto, cpu"),
        (["layers", "--out", "/proc/x"], "--out /proc/x: cannot create"),
        (["layers", "--tolokers", "absent.npz"], "--tolokers: absent.npz"))],
        cwd=tmp_path)
    assert list(tmp_path.iterdir()) == []  # no results folder


def test_the_bench_package_still_exports_its_names():
    import dsgdn_pyg.bench as bench
    from dsgdn_pyg.bench import layer_suite, suite
    assert bench.BenchConfig is suite.BenchConfig
    assert bench.LayerSuiteConfig is layer_suite.LayerSuiteConfig
    assert bench.run_benchmark is suite.run_benchmark
    check_lazy_exports(bench)


def test_a_bad_experiment_option_is_refused_before_torch_is_imported(
        tmp_path):
    # Each of these took 5-6 s to be refused when the experiments package
    # imported its runner, and with it the training session, first.
    (tmp_path / "notes.txt").write_text("mine\n")
    run_without_heavy_imports([
        (["experiment", "run", *args], message) for args, message in (
            (["nope"], "experiment: expected one of"),
            (["window", "--epochs", "0"], "--epochs: expected an integer"),
            (["window", "--hidden", "7"], "hidden: expected an even width"),
            (["window", "--only", "w0"], "--only"),
            (["window", "--shard", "3/2"], "--shard"),
            (["window", "--data", "absent"], "--data absent: no such file"),
            (["window", "--data", "notes.txt"], "--data notes.txt: a file"),
            (["window", "--out", "/proc/x"], "--out /proc/x: cannot create"),
            (["window", "--out", "notes.txt"], "--out notes.txt: is a file"))],
        cwd=tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    assert (tmp_path / "notes.txt").read_text() == "mine\n"


def test_the_experiments_package_still_exports_its_names():
    import dsgdn_pyg.experiments as experiments
    from dsgdn_pyg.experiments.registry import EXPERIMENTS
    from dsgdn_pyg.experiments.runner import run_experiment
    assert experiments.EXPERIMENTS is EXPERIMENTS
    assert experiments.run_experiment is run_experiment
    check_lazy_exports(experiments)


def test_a_bad_run_or_manifest_is_refused_before_torch_is_imported(
        tmp_path):
    # evaluate, predict, attention, features and experiment report each
    # took 6-8 s to refuse a missing run directory, manifest or folder:
    # their modules imported torch (or scipy) first.
    (tmp_path / "notes.txt").write_text("mine\n")
    (tmp_path / "empty").mkdir()
    run_without_heavy_imports([
        (["evaluate", "absent"], "RUN_DIR absent: no such directory"),
        (["evaluate", "notes.txt"], "RUN_DIR notes.txt: is a file"),
        (["evaluate", "empty"], "RUN_DIR empty: no best.pt"),
        (["evaluate", "empty", "--split", "dev"], "RUN_DIR empty"),
        (["predict", "absent", "m.jsonl"], "RUN_DIR absent: no such"),
        (["predict", "absent", "m.jsonl", "--show", "-1"], "--show:"),
        (["predict", "absent", "m.jsonl", "--device", "tpu"], "--device:"),
        (["attention", "absent", "d", "--out", "a.png"], "RUN_DIR absent"),
        (["features", "text", "absent.jsonl", "--out", "f"],
         "absent.jsonl: no such manifest file"),
        (["features", "visual", "notes.txt", "--out", "f"],
         "notes.txt: line 1: invalid JSON"),
        (["features", "audio", "notes.txt", "--out", "/proc/x"],
         "/proc/x: cannot create files in /proc"),
        (["experiment", "report", "absent"], "absent: no such directory"),
        (["experiment", "report", "empty"], "holds no experiment manifest")],
        cwd=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty",
                                                          "notes.txt"]
    assert list((tmp_path / "empty").iterdir()) == []
    assert (tmp_path / "notes.txt").read_text() == "mine\n"


def test_the_features_package_still_exports_its_names():
    import dsgdn_pyg.features as features
    from dsgdn_pyg.features.extract import extract_features
    from dsgdn_pyg.features.manifest import read_manifest
    assert features.extract_features is extract_features
    assert features.read_manifest is read_manifest
    check_lazy_exports(features)


@pytest.mark.parametrize("module", ["dsgdn_pyg", "dsgdn_pyg.cli"])
def test_python_dash_m_runs_the_command(module, tmp_path):
    result = subprocess.run([sys.executable, "-m", module, "train",
                             "--epochs", "0"], capture_output=True,
                            text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "--epochs: expected an integer >= 1" in result.stderr
    assert list(tmp_path.iterdir()) == []
