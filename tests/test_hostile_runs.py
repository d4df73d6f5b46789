"""Hostile and careless use of runs and sweeps: cell names that are paths,
cells left out by --only, bad data in a sweep, --from-runs without the
seeds or with other options, runs of several seeds given where one is
expected, foreign checkpoints on --resume, and the bytes of a resumed
best.pt."""

import hashlib
import json
import shutil

import pytest
from typer.testing import CliRunner

from fault_runner import killed, run

from dsgdn_pyg.cli import app

from dsgdn_pyg.experiments.plan import make_plan
from dsgdn_pyg.training import run_dir as files

from conftest import check_one_line_error as _one_line_error  # noqa: E402
from conftest import nan_feature_folder  # noqa: E402

runner = CliRunner()
S = ["--synthetic-dialogues", "12", "--hidden", "16", "--num-heads", "2",
     "--epochs", "1"]


def _sweep(*args):
    return runner.invoke(app, ["experiment", "run", *map(str, args)])


@pytest.mark.parametrize("name", ["../sw_ref/w1", "..", ".", "a/b", "/tmp/x",
                                  "w 1", ""])
def test_a_cell_name_is_a_plain_name(tmp_path, name):
    with pytest.raises(ValueError, match="plain name"):
        make_plan("window", S, [1], tmp_path / "e",
                  extra_cells={name: ["--window", "7"]})


def test_a_path_as_cell_name_is_refused_before_any_work(tmp_path):
    out = tmp_path / "runs" / "e39"
    result = _sweep("window", *S, "--seeds", "1", "--only", "../sw_ref/w1",
                    "--cell", "../sw_ref/w1=--window 7", "--out", out,
                    "--no-report")
    _one_line_error(result, "../sw_ref/w1", "plain name")
    assert not (tmp_path / "runs").exists()


def test_a_cell_left_out_by_only_is_checked_too(tmp_path):
    out = tmp_path / "e"
    result = _sweep("window", *S, "--seeds", "1", "--cell",
                    "x=--window -3", "--only", "w1", "--out", out,
                    "--no-report")
    _one_line_error(result, "cell x", "--window")
    assert not out.exists()


def test_bad_data_of_a_sweep_is_refused_before_anything_is_written(
        tmp_path):
    folder = tmp_path / "data"
    first = nan_feature_folder(folder)
    out = tmp_path / "e43"
    result = _sweep("window", "--data", folder, "--modalities", "t",
                    "--input-dims", "data", "--seeds", "1,2", "--only",
                    "w1,w2", "--hidden", "16", "--epochs", "1", "--out", out)
    line = _one_line_error(result, first, "NaN")
    assert "DataError" not in line
    assert not out.exists()


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A trained experiment folder: long-dialogues' default cell, seed 1."""
    out = tmp_path_factory.mktemp("source") / "sw_ref"
    result = _sweep("long-dialogues", *S, "--seeds", "1", "--out", out,
                    "--no-report")
    assert result.exit_code == 0, result.output
    return out


def test_from_runs_without_the_seed_is_refused(source, tmp_path):
    out = tmp_path / "long2"
    _one_line_error(_sweep("long-dialogues", *S, "--seeds", "7",
                           "--from-runs", source, "--out", out),
                    f"{source} has no seed 7")
    assert not out.exists()


def test_from_runs_with_other_base_options_is_refused(source, tmp_path):
    out = tmp_path / "long2"
    _one_line_error(_sweep("long-dialogues", *S, "--hidden", "32",
                           "--seeds", "1", "--from-runs", source, "--out",
                           out), "--hidden", "16", "32")
    assert not out.exists()
    same = _sweep("long-dialogues", *S, "--seeds", "1", "--from-runs",
                  source, "--out", out, "--no-report")
    assert same.exit_code == 0, same.output
    assert json.loads(next((out / "evaluations").rglob("seed-1.json"))
                      .read_text())["conditions"]


@pytest.fixture(scope="module")
def several_seeds(tmp_path_factory):
    out = tmp_path_factory.mktemp("ms") / "ms"
    result = runner.invoke(app, ["train", *S, "--seeds", "2,1", "--out",
                                 str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_evaluate_a_run_of_several_seeds_evaluates_each(several_seeds):
    result = runner.invoke(app, ["evaluate", str(several_seeds)])
    assert result.exit_code == 0, result.output
    for seed in (1, 2):
        one = runner.invoke(app, ["evaluate",
                                  str(several_seeds / f"seed-{seed}")])
        assert one.exit_code == 0, one.output
        f1 = next(line for line in one.output.splitlines()
                  if "│ test" in line).split("│")[2].strip()
        row = next(line for line in result.output.splitlines()
                   if line.split("│")[1:2] and
                   line.split("│")[1].strip() == str(seed))
        assert row.split("│")[3].strip() == f1
    assert "mean ± std" in result.output
    assert result.output.index("│          2 │") < \
        result.output.index("│          1 │")  # the seeds' own order


@pytest.mark.parametrize("command", ["attention", "predict"])
def test_one_model_commands_name_the_seeds(several_seeds, tmp_path, command):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps(dict(dialogue_id="d", utterances=[
        dict(speaker="A", text="hi")])) + "\n")
    args = {"attention": ["attention", str(several_seeds), "synthetic_009",
                          "--out", str(tmp_path / "a.png")],
            "predict": ["predict", str(several_seeds), str(manifest),
                        "--out", str(tmp_path / "p.jsonl")]}[command]
    _one_line_error(runner.invoke(app, args), "several seeds (2, 1)",
                    str(several_seeds / "seed-2"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.jsonl"]


# 18 training dialogues in batches of 4; at this learning rate seed 1's
# validation F1 improves at every epoch, so every epoch writes best.pt.
IMPROVING = ["--synthetic-dialogues", "24", "--hidden", "16", "--num-heads",
             "2", "--batch-size", "4", "--warm-up", "1", "--device", "cpu",
             "--lr", "0.03", "--epochs", "3"]


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "run"
    done = run(["train", *IMPROVING, "--seed", "1", "--out", out])
    assert done.returncode == 0, done.stderr
    assert all(json.loads(line)["best"] for line in
               (out / files.METRICS).read_text().splitlines())
    return out


def test_resumed_best_pt_has_the_uninterrupted_bytes(uninterrupted,
                                                     tmp_path):
    out = tmp_path / "run"
    first = run(["train", *IMPROVING, "--seed", "1", "--out", out],
                mode="written:last.pt", count=1)
    assert killed(first), first.stderr
    resumed = run(["train", "--resume", out])
    assert resumed.returncode == 0, resumed.stderr
    assert _sha(out / files.CHECKPOINT) == \
        _sha(uninterrupted / files.CHECKPOINT)


def test_kill_between_best_pt_and_last_pt_still_resumes(uninterrupted,
                                                        tmp_path):
    """Killed right after epoch 2's best.pt, before its last.pt: best.pt is
    newer than what last.pt records, and still the run's own."""
    out = tmp_path / "run"
    first = run(["train", *IMPROVING, "--seed", "1", "--out", out],
                mode="written:best.pt", count=2)
    assert killed(first), first.stderr
    resumed = run(["train", "--resume", out])
    assert resumed.returncode == 0, resumed.stderr
    assert _sha(out / files.CHECKPOINT) == \
        _sha(uninterrupted / files.CHECKPOINT)


@pytest.fixture(scope="module")
def other(tmp_path_factory):
    """Another run (seed 2) whose checkpoints are foreign to seed 1's."""
    out = tmp_path_factory.mktemp("other") / "run"
    assert run(["train", *IMPROVING, "--seed", "2", "--epochs", "1",
                "--out", out]).returncode == 0
    return out


@pytest.mark.parametrize("name", [files.CHECKPOINT, files.LAST])
def test_resume_refuses_a_foreign_checkpoint(tmp_path, other, name):
    out = tmp_path / "run"
    first = run(["train", *IMPROVING, "--seed", "1", "--out", out],
                mode="written:last.pt", count=1)
    assert killed(first), first.stderr
    shutil.copy(other / name, out / name)
    before = {p.name: p.read_bytes() for p in out.iterdir()
              if p.name != ".lock"}  # the killed writer's (locks nothing)
    resumed = run(["train", "--resume", out])
    lines = [line for line in resumed.stderr.splitlines() if line.strip()]
    assert resumed.returncode == 2 and len(lines) == 1, resumed.stderr
    assert f"{name} is not this run's" in lines[0], lines[0]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not (out / ".lock").exists()
