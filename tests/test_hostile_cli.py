"""The CLI used as a hostile or careless user would: every output checked
before any work and never one of the command's inputs, every number finite,
every list without empty items, contradictory options named, messages
about what the user gave, help without artefacts. One test per case of
issue 15 (rows 1-3, 5-7, 13-15, 17), parametrised over the variants of its
class."""

import json
import pickle
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import dsgdn_pyg.bench
import dsgdn_pyg.experiments
from dsgdn_pyg.cli import app

from conftest import check_one_line_error as one_line_error

runner = CliRunner()
S = ["--synthetic-dialogues", "12", "--hidden", "32", "--epochs", "1"]
CLASSES = ["calm", "joy", "anger"]
WIDTH = 6


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def snapshot(folder: Path) -> dict:
    """Every file under :obj:`folder` and its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def R(tmp_path_factory):
    """A finished synthetic run."""
    out = tmp_path_factory.mktemp("hostile") / "R"
    result = invoke("train", *S, "--out", out, "--device", "cpu")
    assert result.exit_code == 0, result.output
    return out


def _manifest(folder: Path, name: str, count: int, seed: int) -> Path:
    """``count`` labelled dialogues with visual .npy files."""
    rng = np.random.default_rng(seed)
    lines = []
    for d in range(count):
        utts = []
        for i in range(int(rng.integers(2, 5))):
            path = folder / f"{name}-{d}-{i}.npy"
            np.save(path, rng.normal(size=WIDTH).astype(np.float32))
            utts.append({"speaker": "AB"[i % 2], "text": f"u{i}",
                         "visual": path.name,
                         "label": CLASSES[int(rng.integers(3))]})
        lines.append(json.dumps({"dialogue_id": f"{name}{d}",
                                 "split": "test" if d % 4 == 0 else "train",
                                 "utterances": utts}))
    path = folder / f"{name}.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def V(tmp_path_factory):
    """A visual-only run trained on a folder ``feats`` written by `dsgdn
    features visual`, and a one-dialogue manifest ``M``."""
    folder = tmp_path_factory.mktemp("visual")
    manifest = _manifest(folder, "train", 14, 1)
    feats = folder / "feats"
    result = invoke("features", "visual", manifest, "--out", feats, "--dim",
                    WIDTH, "--classes", ",".join(CLASSES))
    assert result.exit_code == 0, result.output
    run = folder / "V"
    result = invoke("train", "--data", feats, "--modalities", "v",
                    "--input-dims", "data", "--classes", "data", "--epochs",
                    1, "--hidden", 16, "--num-heads", 2, "--out", run)
    assert result.exit_code == 0, result.output
    return dict(folder=folder, feats=feats, run=run,
                manifest=_manifest(folder, "m", 1, 2))


@pytest.fixture
def no_work(monkeypatch):
    """Makes the work of `dsgdn bench`, `attention` and `experiment run`
    fail the test if it ever starts."""
    def started(*args, **kwargs):
        raise AssertionError("the work started before the check")

    monkeypatch.setattr(dsgdn_pyg.bench, "run_benchmark", started)
    monkeypatch.setattr(dsgdn_pyg.experiments, "run_experiment", started)
    import dsgdn_pyg.experiments.attention as attention
    monkeypatch.setattr(attention, "dialogue_attention", started)


def _unusable_outputs(tmp_path: Path) -> dict:
    (tmp_path / "afile").write_text("mine\n")
    (tmp_path / "adir").mkdir()
    (tmp_path / "adir" / "notes.txt").write_text("mine\n")
    (tmp_path / "earlier").mkdir()
    (tmp_path / "earlier" / "results.json").write_text("{}\n")
    return {"file": (tmp_path / "afile", "is a file"),
            "proc": (Path("/proc/x"), "cannot create files in /proc"),
            "under-a-file": (tmp_path / "afile" / "sub", "is a file"),
            "foreign-folder": (tmp_path / "adir",
                               "holds files a benchmark does not write"),
            "earlier-results": (tmp_path / "earlier", "holds an earlier "
                                "benchmark's results (results.json); pass "
                                "--overwrite")}


# Row 1: `dsgdn bench --out` checked before minutes of timing.
@pytest.mark.parametrize("case", ["file", "proc", "under-a-file",
                                  "foreign-folder", "earlier-results"])
def test_bench_out_is_checked_before_any_work(tmp_path, no_work, case):
    out, part = _unusable_outputs(tmp_path)[case]
    before = snapshot(tmp_path)
    result = invoke("bench", "--quick", "--device", "cpu", "--out", out)
    one_line_error(result, "--out", str(out), part)
    assert snapshot(tmp_path) == before


# Row 2: an existing feature folder is never rewritten by predict.
@pytest.mark.parametrize("case", ["feature-folder", "other-files"])
def test_predict_never_rewrites_an_existing_folder(V, tmp_path, case):
    f3 = tmp_path / "f3"
    if case == "feature-folder":
        shutil.copytree(V["feats"], f3)
    else:
        f3.mkdir()
        (f3 / "thesis.tex").write_text("months of work\n")
    before = snapshot(f3)
    result = invoke("predict", V["run"], V["manifest"], "--out",
                    tmp_path / "p.jsonl", "--features-dir", f3)
    one_line_error(result, "--features-dir", str(f3), "never rewritten")
    assert snapshot(f3) == before
    assert not (tmp_path / "p.jsonl").exists()


def test_predict_features_dir_is_a_cache_of_its_own(V, tmp_path):
    cache = tmp_path / "cache"
    for _ in range(2):  # a new folder, then the same one again
        result = invoke("predict", V["run"], V["manifest"], "--out",
                        tmp_path / "p.jsonl", "--features-dir", cache)
        assert result.exit_code == 0, result.output
    names = {p.name for p in cache.iterdir()}
    assert names == {"dsgdn-predict-cache.json", "visual"}
    assert not (cache / "metadata.pkl").exists()


# Row 3: an output is never one of the command's inputs.
@pytest.mark.parametrize("case", ["manifest", "media", "run-dir"])
def test_predict_out_is_never_an_input(V, tmp_path, case):
    manifest = tmp_path / "m.jsonl"
    text = V["manifest"].read_text()
    media = json.loads(text)["utterances"][0]["visual"]
    manifest.write_text(text.replace(media, str(V["folder"] / media)))
    out = {"manifest": manifest, "media": V["folder"] / media,
           "run-dir": V["run"] / "predictions.jsonl"}[case]
    before = {p: p.read_bytes() for p in (manifest, V["folder"] / media)}
    run_before = snapshot(V["run"])
    result = invoke("predict", V["run"], manifest, "--out", out)
    one_line_error(result, "--out", str(out), "an input")
    assert {p: p.read_bytes() for p in before} == before
    assert snapshot(V["run"]) == run_before


# Row 5: evaluate refuses NaN and infinity like a negative noise.
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_evaluate_noise_must_be_finite(R, value):
    one_line_error(invoke("evaluate", R, "--noise", value), "--noise",
                   "finite")


# Row 6: non-finite fusion weights are refused before any work.
@pytest.mark.parametrize("spec", ["t=nan,v=0.1,a=0.1", "t=inf,v=0.1,a=0.1",
                                  "t=0.8,v=-inf,a=0.1"])
def test_fusion_weights_must_be_finite(tmp_path, spec):
    out = tmp_path / "run"
    result = invoke("train", *S, "--fusion-weights", spec, "--out", out)
    one_line_error(result, "--fusion-weights", "finite")
    assert not out.exists()


# Row 7: attention and experiment outputs checked first, the user's path
# named (never a temporary file or a raw errno).
@pytest.mark.parametrize("command", ["attention", "experiment"])
@pytest.mark.parametrize("case", ["directory", "proc", "under-a-file",
                                  "inside-the-run"])
def test_outputs_are_checked_before_any_work(R, tmp_path, no_work, command,
                                             case):
    (tmp_path / "afile").write_text("mine\n")
    if command == "attention":
        out, part = {"directory": (tmp_path, "is a directory"),
                     "proc": (Path("/proc/a.png"), "/proc"),
                     "under-a-file": (tmp_path / "afile" / "a.png",
                                      "is a file"),
                     "inside-the-run": (R / "a.png", "an input")}[case]
        args = ["attention", R, "synthetic_009", "--out", out]
    else:
        out, part = {"directory": (tmp_path / "afile", "is a file"),
                     "proc": (Path("/proc/x"), "/proc"),
                     "under-a-file": (tmp_path / "afile" / "e", "is a file"),
                     "inside-the-run": (R / "e", "an input")}[case]
        args = ["experiment", "run", "window", *S, "--data", R, "--out",
                out]
    line = one_line_error(invoke(*args), "--out", str(out), part)
    assert ".tmp" not in line and "Errno" not in line


# Row 13: empty lists and out-of-range numbers are refused.
@pytest.mark.parametrize("args,parts", [
    (["train", *S, "--seeds", ""], ["--seeds", "empty item"]),
    (["train", *S, "--seeds", "1,,2"], ["--seeds", "empty item"]),
    (["train", *S, "--seeds", "1,2,"], ["--seeds", "empty item"]),
    (["experiment", "run", "window", *S, "--seeds", ""], ["--seeds"]),
    (["experiment", "run", "window", *S, "--only", ""], ["--only"]),
    (["experiment", "run", "window", *S, "--only", "w1,,w2"], ["--only"]),
    (["bench", "--quick", "--lengths", "16,,32"], ["--lengths"]),
    (["evaluate", "R", "--min-length", "-3"], ["--min-length", ">= 1"]),
    (["evaluate", "R", "--max-length", "0"], ["--max-length", ">= 1"]),
    (["evaluate", "R", "--min-length", "9999"],
     ["--min-length/--max-length", "no dialogue"]),
    (["evaluate", "R", "--split", "dev"],
     ["--split", "expected one of train, valid, test", "'dev'"]),
    (["evaluate", "R", "--data", "absent"],
     ["--data absent", "no such file or directory"]),
], ids=["train-seeds-empty", "train-seeds-gap", "train-seeds-trailing",
        "experiment-seeds-empty", "only-empty", "only-gap", "bench-lengths",
        "min-length", "max-length", "no-dialogue-left", "split", "data"])
def test_empty_items_and_bad_bounds_are_refused(R, tmp_path, no_work, args,
                                                parts):
    args = [R if a == "R" else a for a in args]
    if args[0] in ("train", "experiment"):
        args += ["--out", tmp_path / "out"]
    if args[0] == "bench":
        args += ["--out", tmp_path / "bench"]
    one_line_error(invoke(*args), *parts)
    assert not (tmp_path / "out").exists()


# Row 14: contradictory or irrelevant options name both options.
@pytest.mark.parametrize("case", ["resume-overwrite", "data-synthetic",
                                  "seed-seeds", "address-local"])
def test_contradictory_options_name_both(R, V, tmp_path, no_work, case):
    run = tmp_path / "R"
    shutil.copytree(R, run)
    before = snapshot(run)
    args, first, second = {
        "resume-overwrite": (["train", "--resume", run, "--overwrite"],
                             "--resume", "--overwrite"),
        "data-synthetic": (["train", "--data", V["feats"],
                            "--synthetic-dialogues", "12", "--out",
                            tmp_path / "new"],
                           "--data", "--synthetic-dialogues"),
        "seed-seeds": (["train", *S, "--seed", "3", "--seeds", "1,2",
                        "--out", tmp_path / "new"], "--seed", "--seeds"),
        "address-local": (["experiment", "run", "window", *S, "--address",
                           "127.0.0.1:6379", "--out", tmp_path / "new"],
                          "--address", "--executor"),
    }[case]
    one_line_error(invoke(*args), first, second)
    assert snapshot(run) == before
    assert not (tmp_path / "new").exists()


def _float_label_folder(V, tmp_path):
    folder = tmp_path / "data"
    shutil.copytree(V["feats"], folder)
    meta = pickle.loads((folder / "metadata.pkl").read_bytes())
    first = sorted(meta[1])[0]
    meta[1][first][0] = 0.5
    (folder / "metadata.pkl").write_bytes(pickle.dumps(meta))
    return folder, ["utterance 0", "label 0.5", "not a whole number"]


def _overflow_folder(V, tmp_path):
    folder = tmp_path / "data"
    shutil.copytree(V["feats"], folder)
    with np.load(folder / "visual.npz") as npz:
        arrays = {k: npz[k].astype(np.float64) for k in npz.files}
    first = sorted(arrays)[0]
    arrays[first][0, 0] = 1e300
    np.savez(folder / "visual.npz", **arrays)
    return folder, ["utterance 0", "float32 range"]


# Row 15: messages say what is wrong with what the user gave.
@pytest.mark.parametrize("case", ["report-missing", "experiment-out-file",
                                  "empty-utterances", "float-label",
                                  "passwd-visual", "resume-data",
                                  "float32-overflow"])
def test_messages_say_what_is_wrong(R, V, tmp_path, no_work, case):
    train_v = ["--modalities", "v", "--input-dims", "data", "--classes",
               "data", "--epochs", "1", "--hidden", "16", "--num-heads", "2",
               "--out", tmp_path / "run"]
    if case == "report-missing":
        missing = tmp_path / "nonexist"
        args, parts = (["experiment", "report", missing],
                       [str(missing), "no such directory"])
    elif case == "experiment-out-file":
        (tmp_path / "afile").write_text("mine\n")
        args, parts = (["experiment", "run", "window", *S, "--out",
                        tmp_path / "afile"], ["is a file"])
    elif case == "empty-utterances":
        manifest = tmp_path / "m.jsonl"
        manifest.write_text('{"dialogue_id": "d", "utterances": []}\n')
        args, parts = (["features", "visual", manifest, "--out",
                        tmp_path / "f"], ["'utterances' is an empty list"])
    elif case == "float-label":
        folder, parts = _float_label_folder(V, tmp_path)
        args = ["train", "--data", folder, *train_v]
    elif case == "passwd-visual":
        manifest = tmp_path / "m.jsonl"
        manifest.write_text(json.dumps({"dialogue_id": "d", "utterances": [
            {"speaker": "A", "text": "hi", "visual": "/etc/passwd"}]}) + "\n")
        args, parts = (["features", "visual", manifest, "--out",
                        tmp_path / "f"],
                       ["/etc/passwd", "not a .npy file"])
    elif case == "resume-data":
        run = tmp_path / "K"
        shutil.copytree(R, run)
        args, parts = (["train", "--resume", run, "--data", V["feats"]],
                       ["--data", "built-in synthetic dialogues"])
    else:
        folder, parts = _overflow_folder(V, tmp_path)
        args = ["train", "--data", folder, *train_v]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a numpy warning is no message
        result = invoke(*args)
    line = one_line_error(result, *parts)
    assert "allow_pickle" not in line and "None" not in line
    assert "non-empty list" not in line or "empty list" in line


# Row 17: help without artefacts; report headings fit their content.
HELP = [[], ["train"], ["evaluate"], ["predict"], ["attention"], ["bench"],
        ["features"], ["features", "visual"], ["experiment"],
        ["experiment", "run"], ["experiment", "report"]]


@pytest.mark.parametrize("command", HELP, ids=lambda c: " ".join(c) or "-")
def test_help_has_no_artefacts(command):
    result = runner.invoke(app, [*command, "--help"],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    usage = next(line for line in result.output.splitlines()
                 if "Usage:" in line)
    assert "{" not in usage and "}" not in usage, usage
    assert "--help" in result.output


@pytest.mark.parametrize("group", [[], ["experiment"], ["features"],
                                   ["bench"]], ids=lambda c: " ".join(c) or "-")
def test_command_lists_keep_each_summary_on_one_line(group):
    # Typer's rich help keeps a docstring's line breaks in a group's list of
    # commands: on a wide terminal every summary must fit its own row.
    result = runner.invoke(app, [*group, "--help"], env={"COLUMNS": "1000"})
    assert result.exit_code == 0, result.output
    panel = result.output.split("─ Commands ")[1].splitlines()[1:]
    rows = panel[:next(i for i, row in enumerate(panel) if row[0] == "╰")]
    assert rows and all(row.startswith("│ ") and row[2] != " "
                        for row in rows), \
        "a command's summary wrapped onto a row of its own:\n" + \
        result.output


def test_overhead_report_heading_and_one_seed(tmp_path):
    out = tmp_path / "ov"
    result = invoke("experiment", "run", "overhead", *S, "--seeds", "1",
                    "--only", "diff,gat", "--out", out, "--no-report")
    assert result.exit_code == 0, result.output
    result = invoke("experiment", "report", out, "--no-plot")
    assert result.exit_code == 0, result.output
    text = (out / "report.md").read_text()
    assert "Test metrics at the epoch selected" not in text
    assert "t-interval" not in text
    assert "Cost of each cell's model" in text
    assert "±" not in text.split("| cell")[1]  # one seed: no std


# Row 3, `dsgdn features`: no file it writes is the manifest or a file the
# manifest names.
@pytest.mark.parametrize("written", ["features.json", "metadata.pkl",
                                     "visual.npz"])
def test_features_never_write_over_an_input(tmp_path, written):
    np.save(tmp_path / "v.npy", np.zeros(WIDTH, np.float32))
    manifest = tmp_path / written
    manifest.write_text(json.dumps({"dialogue_id": "d", "utterances": [
        {"speaker": "A", "text": "hi", "visual": "v.npy"}]}) + "\n")
    before = snapshot(tmp_path)
    result = invoke("features", "visual", manifest, "--out", tmp_path,
                    "--dim", WIDTH)
    one_line_error(result, "--out", str(manifest), "an input")
    assert snapshot(tmp_path) == before
