"""`dsgdn experiment`: the grids of the eleven experiments, runs on tiny
synthetic data, the report's statistics, sharding and the bad inputs."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from typer.testing import CliRunner

from dsgdn_pyg.cli import app
from dsgdn_pyg.experiments import EXPERIMENTS, get_experiment, run_experiment
from dsgdn_pyg.experiments import executors
from dsgdn_pyg.experiments import plan as planning
from dsgdn_pyg.experiments.options import OPTIONS, parse_options
from dsgdn_pyg.experiments.report import collect
from dsgdn_pyg.training import run_dir as files

runner = CliRunner()
TINY = ["--synthetic-dialogues", "12", "--hidden", "32", "--num-heads", "2",
        "--batch-size", "8", "--epochs", "1"]
quiet = dict(log=lambda message: None)


def test_list_shows_the_eleven_experiments():
    result = runner.invoke(app, ["experiment", "list"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert len(EXPERIMENTS) == 11
    for e in EXPERIMENTS.values():
        assert e.name in result.output and e.reproduces in result.output


def test_cell_options_are_dsgdn_train_options():
    import typer.main
    command = typer.main.get_command(app).commands["train"]
    train_options = {opt for p in command.params for opt in p.opts}
    assert set(OPTIONS) <= train_options


@pytest.mark.parametrize("name", list(EXPERIMENTS))
@pytest.mark.parametrize("preset", ["iemocap", "meld"])
def test_every_grid_plans_on_its_options(name, preset, tmp_path):
    experiment = get_experiment(name)
    plan = planning.make_plan(name, ["--preset", preset, "--hidden", "32"],
                              [1, 2], tmp_path / "out")
    names = [c["name"] for c in plan.cells]
    assert len(names) == len(set(names))
    assert experiment.default_cell(preset) in names
    tasks = planning.tasks(plan)
    assert len(tasks) == 2 * len(names)
    for cell in plan.cells:
        # Every cell = the base configuration plus its own options.
        assert cell["settings"] == dict(
            {"preset": preset, "hidden": 32},
            **parse_options(cell["options"]))
    assert not (tmp_path / "out").exists()  # planning writes nothing


def test_grids_hold_the_papers_values():
    cells = {n: [c.name for c in get_experiment(n).cells("iemocap")]
             for n in EXPERIMENTS}
    assert cells["graph"] == ["diff", "gcn", "none", "gat"]
    assert cells["modalities"] == ["t", "a", "v", "ta", "tv", "tav"]
    assert len(cells["dropout-grid"]) == 9
    noise = get_experiment("noise").conditions
    assert [c.noise for c in noise] == pytest.approx(
        [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])
    long = get_experiment("long-dialogues").conditions[1]
    assert (long.min_length, long.max_length) == (20, 50)


@pytest.fixture(scope="module")
def graph_runs(tmp_path_factory):
    """graph over diff and none, seeds 1 and 2, run as three shards."""
    out = tmp_path_factory.mktemp("exp") / "graph"
    done = []
    for k in (1, 2, 3):
        outcome = run_experiment("graph", TINY, [1, 2], out,
                                 only=["diff", "none"], shard=f"{k}/3",
                                 report=False, **quiet)
        assert not outcome["failed"]
        done += [(r["cell"], r["seed"]) for r in outcome["results"]]
    return out, done


def test_shards_together_run_each_run_once(graph_runs):
    out, done = graph_runs
    grid = [(c, s) for c in ("diff", "none") for s in (1, 2)]
    assert sorted(done) == sorted(grid)
    for cell, seed in grid:
        assert files.run_status(out / cell / f"seed-{seed}") == "complete"


def test_finished_runs_are_not_redone(graph_runs):
    out, _ = graph_runs
    before = (out / "diff" / "seed-1" / files.METRICS).stat().st_mtime_ns
    outcome = run_experiment("graph", TINY, [1, 2], out,
                             only=["diff", "none"], report=False, **quiet)
    assert {r["status"] for r in outcome["results"]} == {"done"}
    assert (out / "diff" / "seed-1" / files.METRICS).stat().st_mtime_ns \
        == before
    # On another device too: it was refused as "other base options".
    outcome = run_experiment("graph", [*TINY, "--device", "cpu"], [1, 2],
                             out, only=["diff", "none"], report=False,
                             **quiet)
    assert {r["status"] for r in outcome["results"]} == {"done"}


def test_report_means_and_paired_intervals(graph_runs):
    out, _ = graph_runs
    result = runner.invoke(app, ["experiment", "report", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert (out / "report.md").is_file() and (out / "plot.png").is_file()
    assert report["missing"] == []
    rows = {r["cell"]: r for r in report["rows"]}
    f1 = {cell: [json.loads((out / cell / f"seed-{s}" / files.REPORT_JSON)
                            .read_text())["test"]["weighted_f1"]
                 for s in (1, 2)] for cell in ("diff", "none")}
    for cell in ("diff", "none"):
        assert rows[cell]["weighted_f1"]["mean"] == pytest.approx(
            np.mean(f1[cell]))
        assert rows[cell]["weighted_f1"]["std"] == pytest.approx(
            np.std(f1[cell], ddof=1))
    diffs = np.array(f1["none"]) - np.array(f1["diff"])
    half = stats.t.ppf(0.975, 1) * diffs.std(ddof=1) / np.sqrt(2)
    d = rows["none"]["difference"]["weighted_f1"]
    assert d["mean"] == pytest.approx(diffs.mean())
    assert (d["low"], d["high"]) == pytest.approx(
        (diffs.mean() - half, diffs.mean() + half))
    assert rows["diff"]["paper"] == dict(weighted_f1=75.64, accuracy=76.09)


def test_missing_runs_are_listed_not_averaged(graph_runs, tmp_path):
    import shutil
    out, _ = graph_runs
    copy = tmp_path / "graph"
    shutil.copytree(out, copy)
    (copy / "none" / "seed-2" / "summary.json").unlink()
    report = json.loads(runner.invoke(app, [
        "experiment", "report", str(copy), "--no-plot"]).exit_code == 0
        and (copy / "report.json").read_text())
    assert [(m["cell"], m["seed"], m["status"]) for m in report["missing"]] \
        == [("none", 2, "incomplete")]
    none = next(r for r in report["rows"] if r["cell"] == "none")
    assert none["seeds"] == [1] and none["weighted_f1"]["n"] == 1
    text = (copy / "report.md").read_text()
    assert "Missing runs (1)" in text
    # Its difference from diff pairs one seed of two, and says so.
    row = next(line for line in text.splitlines()
               if line.startswith("| none"))
    assert "(1 seed, no CI, 1 of 2 seeds paired)" in row, row


def test_evaluate_works_on_a_cell_run(graph_runs):
    out, _ = graph_runs
    result = runner.invoke(app, ["evaluate", str(out / "diff" / "seed-1")])
    assert result.exit_code == 0, result.output


def test_noise_and_long_dialogues_measure_existing_runs(graph_runs, tmp_path):
    out, _ = graph_runs
    for name in ("noise", "long-dialogues"):
        target = tmp_path / name
        outcome = run_experiment(name, [], [1], target, from_runs=out,
                                 only=["diff"], report=False, **quiet)
        assert not outcome["failed"]
        assert {r["status"] for r in outcome["results"]} == {"evaluated"}
        report = collect(target)
        conditions = get_experiment(name).conditions
        assert len(report["rows"]) == len(conditions)
        assert not report["missing"]
    noise = json.loads(planning.evaluation_path(
        tmp_path / "noise", "diff", 1).read_text())["conditions"]
    plain = json.loads((out / "diff" / "seed-1" / files.REPORT_JSON)
                       .read_text())["test"]
    assert noise["noise0.0"]["weighted_f1"] == pytest.approx(
        plain["weighted_f1"])
    assert len(noise["noise0.7"]["per_noise_seed"]) == 3


def _ask(config: Path, **overrides) -> None:
    """Rewrites the request a run's ``config.json`` records, as a run
    trained with other model options (``dsgdn train --overwrite``) would."""
    recorded = json.loads(config.read_text())
    recorded["request"]["model_overrides"].update(overrides)
    config.write_text(json.dumps(recorded))


def _tree(folder):
    return {str(p): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_a_run_of_other_options_is_listed_not_averaged(graph_runs,
                                                       tmp_path):
    # It was averaged into its cell ("No run is missing"), and a rerun
    # printed "none seed 1: done".
    import shutil
    out, _ = graph_runs
    copy = tmp_path / "graph"
    shutil.copytree(out, copy)
    run = copy / "none" / "seed-1"
    _ask(run / files.CONFIG, hidden=16)
    report = collect(copy)
    assert [(m["cell"], m["seed"], m["status"], m["path"])
            for m in report["missing"]] == \
        [("none", 1, "other options", str(run))]
    assert "--hidden 16, not 32" in report["missing"][0]["reason"]
    none = next(r for r in report["rows"] if r["cell"] == "none")
    assert none["seeds"] == [2]
    before = _tree(copy)
    line = _bad(["experiment", "run", "graph", "--only", "diff,none",
                 "--seeds", "1,2", "--out", str(copy)] + TINY, tmp_path)
    assert str(run) in line and "--hidden 16, not 32" in line, line
    assert _tree(copy) == before  # refused before anything is written
    result = runner.invoke(app, ["experiment", "report", str(copy),
                                 "--no-plot"])
    assert result.exit_code == 0, result.output
    written = (copy / "report.md").read_text()
    assert "none seed 1: other options: " in written
    assert "No run is missing." not in written


def test_a_diverged_run_is_reported_as_diverged_not_retrained(tmp_path):
    # It was listed as "incomplete", and every sweep trained it again to
    # the same divergence.
    out = tmp_path / "hot"
    args = ["experiment", "run", "graph", "--only", "hot", "--cell",
            "hot=--lr 1e30", "--seeds", "1", "--out", str(out), *TINY[:-2],
            "--epochs", "3"]
    first = runner.invoke(app, args + ["--no-report"])
    assert first.exit_code == 2 and "FAILED" in first.output, first.output
    run = out / "hot" / "seed-1"
    assert files.run_status(run) == "diverged"
    report = collect(out)
    assert [(m["cell"], m["status"]) for m in report["missing"]] == \
        [("hot", "diverged")]
    assert report["missing"][0]["reason"].startswith(
        "training diverged at epoch 1")
    before = _tree(run)
    again = runner.invoke(app, args)
    text = " ".join(again.output.split())
    assert again.exit_code == 2, again.output
    assert "in an earlier sweep; move " in text and "trained" not in text
    assert _tree(run) == before
    assert "- hot seed 1: diverged: training diverged" in \
        (out / "report.md").read_text()


def test_a_replaced_legacy_cell_is_marked_in_its_row(tmp_path):
    # One --select-on test cell marked the whole table LEGACY, and a cell
    # replaced by --cell kept the experiment's label and paper numbers.
    out = tmp_path / "legacy"
    result = runner.invoke(app, [
        "experiment", "run", "graph", "--only", "diff,none", "--cell",
        "none=--graph-layer none --select-on test", "--seeds", "1",
        "--out", str(out), *TINY])
    assert result.exit_code == 0, result.output
    report = collect(out)
    rows = {r["cell"]: r for r in report["rows"]}
    assert rows["none"]["selected_on"] == ["test"]
    assert rows["diff"]["selected_on"] == ["valid"]
    assert rows["none"]["label"] == "--graph-layer none --select-on test"
    assert rows["none"]["paper"] is None and rows["diff"]["paper"]
    text = (out / "report.md").read_text()
    assert "Test metrics at the epoch selected on validation" in text
    assert "in the rows marked LEGACY: cell none.**" in text
    table = {line.split(" | ")[0]: line for line in text.splitlines()
             if line.startswith("| diff") or line.startswith("| none")}
    assert set(table) == {"| diff (reference)", "| none (LEGACY)"}


def test_a_measurement_of_a_replaced_checkpoint_is_redone(graph_runs,
                                                          tmp_path):
    # The measurement of the checkpoint a run held before was reused.
    import shutil
    out, _ = graph_runs
    source, target = tmp_path / "graph", tmp_path / "long"
    shutil.copytree(out, source)
    measure = dict(from_runs=source, only=["diff"], report=False, **quiet)
    run_experiment("long-dialogues", [], [1], target, **measure)
    run = source / "diff" / "seed-1"
    shutil.copyfile(source / "diff" / "seed-2" / files.CHECKPOINT,
                    run / files.CHECKPOINT)
    assert [(m["cell"], m["status"]) for m in collect(target)["missing"]] \
        == [("diff", "stale")]
    outcome = run_experiment("long-dialogues", [], [1], target, **measure)
    assert [r["status"] for r in outcome["results"]] == ["evaluated"]
    assert not collect(target)["missing"]
    record = json.loads(planning.evaluation_path(target, "diff", 1)
                        .read_text())
    assert record["checkpoint"]["sha256"] == \
        files.file_digest(run / files.CHECKPOINT)
    measured = json.loads((source / "diff" / "seed-2" / files.REPORT_JSON)
                          .read_text())["test"]["weighted_f1"]
    assert record["conditions"]["all"]["weighted_f1"] == \
        pytest.approx(measured)
    # A source run retrained with other options is not measured.
    _ask(run / files.CONFIG, hidden=16)
    assert collect(target)["missing"][0]["status"] == "other options"
    with pytest.raises(ValueError, match="--hidden 16, not 32"):
        run_experiment("long-dialogues", [], [1], target, **measure)


def test_progress_counts_up_past_held_runs(monkeypatch, tmp_path):
    # The runs held by another process were counted twice: [3/4] none
    # seed 2, then [3/4] diff seed 1 once back to it.
    from dsgdn_pyg.experiments import runner as sweep

    def run_tasks(tasks, done, *args):
        for task in tasks:
            held = task["cell"] == "diff" and not task.get("wait")
            done(task, dict(cell=task["cell"], seed=task["seed"], pid=1,
                            status="held" if held else "trained",
                            seconds=0.0), None)
    monkeypatch.setattr(sweep, "run_tasks", run_tasks)
    lines = []
    run_experiment("graph", TINY, [1, 2], tmp_path / "g",
                   only=["diff", "none"], report=False, log=lines.append)
    counts = [line.split("]")[0] for line in lines if line.startswith("[")]
    assert counts == ["[1/4", "[2/4", "[3/4", "[4/4"], lines
    assert sum("held by another process" in line for line in lines) == 2


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_each_experiment_runs_on_synthetic_data(name, tmp_path):
    # One cell other than the default (the default's options are the
    # base's): its options go through training, measurement and the plot.
    experiment = get_experiment(name)
    cells = [c.name for c in experiment.cells("iemocap")]
    default = experiment.default_cell("iemocap")
    only = [c for c in cells if c != default][:1] or [default]
    outcome = run_experiment(name, TINY, [1], tmp_path / name, only=only,
                             report=True, **quiet)
    assert not outcome["failed"], outcome["failed"]
    report = outcome["report"]
    assert report["missing"] == []
    assert (tmp_path / name / "plot.png").stat().st_size > 0
    assert {r["cell"] for r in report["rows"]} == set(only)


def test_an_overhead_measurement_of_other_settings_is_redone(tmp_path):
    # overhead.json recorded no settings: one measured with another
    # --device (which a folder's manifest does not fix) or by an older
    # version was reported as the cell's and never measured again.
    out = tmp_path / "overhead"
    outcome = run_experiment("overhead", TINY, [1], out, only=["gat"],
                             report=False, **quiet)
    assert [r["status"] for r in outcome["results"]] == ["measured"]
    path = out / "gat" / "seed-1" / planning.OVERHEAD
    again = run_experiment("overhead", TINY, [1], out, only=["gat"],
                           report=False, **quiet)
    assert [r["status"] for r in again["results"]] == ["done"]
    record = json.loads(path.read_text())
    assert record["request"]["model_overrides"]["graph_layer"] == "gat"
    for change, reason in (
            (dict(device="cuda"), "measured with --device cuda, not auto"),
            (dict(model_overrides=dict(graph_layer="diff")),
             "--graph-layer diff, not gat"),
            (None, "records no settings")):
        edited = dict(record)
        if change is None:
            del edited["request"]
        else:
            edited["request"] = dict(record["request"], **change)
        path.write_text(json.dumps(edited))
        missing = collect(out)["missing"]
        assert [(m["cell"], m["status"]) for m in missing] == \
            [("gat", "stale")]
        assert reason in missing[0]["reason"], missing[0]["reason"]
    redone = run_experiment("overhead", TINY, [1], out, only=["gat"],
                            report=False, **quiet)
    assert [r["status"] for r in redone["results"]] == ["measured"]
    assert collect(out)["missing"] == []


def _bad(args, tmp_path):
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    return lines[0]


@pytest.mark.parametrize("args, words", [
    (["experiment", "run", "nope"], "experiment"),
    (["experiment", "run", "graph", "--cell", "x=--bogus 1"], "--bogus"),
    (["experiment", "run", "graph", "--bogus", "1"], "--bogus"),
    (["experiment", "run", "graph", "--executor", "slurm"], "--executor"),
    (["experiment", "run", "graph", "--shard", "0/2"], "--shard"),
    (["experiment", "run", "graph", "--shard", "3/2"], "--shard"),
    (["experiment", "run", "graph", "--shard", "a"], "--shard"),
    (["experiment", "run", "graph", "--only", "gcm"], "--only"),
    (["experiment", "run", "window", "--window", "x"], "--window"),
    (["experiment", "run", "graph", "--graph-layer", "gcm"], "--graph-layer"),
    (["experiment", "run", "window", "--seeds", "1,-1"],
     "--seeds: expected an integer in [0, "),
    (["experiment", "run", "graph", "--cell", "x=--seeds 1,2"],
     "cell x option '--seeds': expected a `dsgdn train` option that is not "
     "each run's own"),
    (["experiment", "run", "window", "--seed", "3"], "'--seed'"),
    (["experiment", "run", "graph", "--cell", "x=--data absent"],
     "cell x: --data absent: no such file or directory"),
])
def test_bad_input_is_one_line_and_writes_nothing(args, words, tmp_path):
    out = tmp_path / "out"
    line = _bad(args + ["--out", str(out)] + TINY, tmp_path)
    assert words in line
    assert not out.exists()


@pytest.mark.parametrize("name", ["report.md", "experiment.json",
                                  "report.json", "plot.png", "evaluations",
                                  "Report.MD", ".lock"])
def test_a_cell_named_as_the_folders_own_file_is_refused(name, tmp_path):
    # report.md trained, then failed writing the report into its folder;
    # experiment.json failed its run ("Not a directory").
    out = tmp_path / "out"
    line = _bad(["experiment", "run", "heads", "--only", name, "--cell",
                 f"{name}=--heads 1", "--seeds", "1", "--out", str(out)]
                + TINY, tmp_path)
    assert line.startswith(f"error: --cell {name!r}: "), line
    assert not out.exists()


@pytest.mark.parametrize("name, words", [
    ("absent", "no such file or directory"),
    ("notes.txt", "a file without the .pkl suffix")])
def test_bad_data_is_refused_before_any_run(name, words, tmp_path):
    (tmp_path / "notes.txt").write_text("mine\n")
    out, data = tmp_path / "out", tmp_path / name
    line = _bad(["experiment", "run", "window", "--data", str(data),
                 "--out", str(out)] + TINY, tmp_path)
    assert f"--data {data}: {words}" in line
    assert not out.exists()
    assert (tmp_path / "notes.txt").read_text() == "mine\n"


def test_an_other_experiments_folder_is_refused(graph_runs):
    out, _ = graph_runs
    before = sorted(p.name for p in out.iterdir())
    line = _bad(["experiment", "run", "window", "--out", str(out)] + TINY,
                None)
    assert "graph" in line and "window" in line
    assert sorted(p.name for p in out.iterdir()) == before


def test_a_folder_that_is_no_experiment_is_refused(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    _bad(["experiment", "run", "graph", "--out", str(tmp_path / "x")] + TINY,
         tmp_path)
    assert [p.name for p in (tmp_path / "x").iterdir()] == ["keep.txt"]


GOOD_MANIFEST = dict(experiment="window", base={}, base_options=[],
                     default_cell="w5", seeds=[1],
                     cells=[dict(name="w5", options=[], settings={})])


@pytest.mark.parametrize("change, words", [
    (lambda m: [m], "expected a JSON object"),
    (lambda m: dict(m, experiment=None), "field 'experiment': expected"),
    (lambda m: {k: v for k, v in m.items() if k != "cells"},
     "field 'cells': expected a JSON list"),
    (lambda m: dict(m, cells=[dict(name="../up", options=[], settings={})]),
     "cell '../up': a cell name is a plain name"),
    (lambda m: dict(m, cells=[dict(name="report.md", options=[],
                                   settings={})]),
     "cell 'report.md': the experiment folder's own file"),
    (lambda m: dict(m, cells=["w5"]), "field 'cells': expected objects"),
    (lambda m: dict(m, seeds=["1"]), "field 'seeds': expected a list"),
    (lambda m: dict(m, experiment="nope"), "experiment: expected one of"),
], ids=["list", "no-name", "no-cells", "path-cell", "own-file-cell",
        "cell-string",
        "string-seed", "unknown-experiment"])
def test_a_malformed_manifest_is_one_line_for_report_and_run(
        change, words, tmp_path):
    # Each was a KeyError or TypeError traceback from the report (and a
    # cell named ../up a folder read outside the experiment).
    folder = tmp_path / "e"
    folder.mkdir()
    manifest = folder / "experiment.json"
    manifest.write_text(json.dumps(change(dict(GOOD_MANIFEST))))
    before = manifest.read_text()
    for args in (["experiment", "report", str(folder)],
                 ["experiment", "run", "window", "--out", str(folder)]
                 + TINY):
        line = _bad(args, tmp_path)
        assert str(manifest) in line and words in line, line
    assert [p.name for p in folder.iterdir()] == ["experiment.json"]
    assert manifest.read_text() == before


def test_missing_ray_extra(monkeypatch, tmp_path):
    import sys
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails
    line = _bad(["experiment", "run", "graph", "--executor", "ray",
                 "--out", str(tmp_path / "o")] + TINY, tmp_path)
    assert "dsgdn-pyg[ray]" in line
    assert not (tmp_path / "o").exists()


def test_missing_matplotlib_for_the_report(graph_runs, monkeypatch,
                                           tmp_path):
    import shutil
    import sys
    out, _ = graph_runs
    copy = tmp_path / "g"
    shutil.copytree(out, copy)
    for name in ("report.md", "report.json", "plot.png"):
        (copy / name).unlink(missing_ok=True)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    line = _bad(["experiment", "report", str(copy)], tmp_path)
    assert "dsgdn-pyg[bench]" in line
    assert not (copy / "report.md").exists()


def test_ray_executor(tmp_path):
    ray = pytest.importorskip("ray")
    try:
        outcome = run_experiment("graph", TINY, [1, 2], tmp_path / "g",
                                 only=["none"], executor="ray",
                                 report=False, **quiet)
    finally:
        ray.shutdown()
    assert not outcome["failed"], outcome["failed"]
    assert sorted(r["seed"] for r in outcome["results"]) == [1, 2]
    for seed in (1, 2):
        assert files.run_status(tmp_path / "g" / "none" / f"seed-{seed}") \
            == "complete"


# Local workers -----------------------------------------------------------

@pytest.mark.parametrize("cores, workers, shares", [
    ([0, 1], 2, [[0], [1]]),
    ([0, 1, 2, 3], 2, [[0, 1], [2, 3]]),
    ([4, 5, 6, 7, 8], 2, [[4, 5], [6, 7]]),
    ([0, 1], 3, [[0], [1], [0]]),
    ([3], 1, [[3]]),
])
def test_worker_cores_are_disjoint_blocks(cores, workers, shares):
    assert [executors.worker_cores(k, workers, cores)
            for k in range(workers)] == shares


def test_a_worker_whose_sweep_died_while_it_started_exits():
    # Its parent is not the sweep that started it (which died before the
    # worker armed its death signal): it exits instead of waiting for tasks
    # forever, as an orphan. Under its sweep it goes on.
    code = ("import os\n"
            "from dsgdn_pyg.experiments import executors\n"
            "executors._die_with_parent({parent})\n"
            "print('working')\n")
    orphan = subprocess.run([sys.executable, "-c", code.format(
        parent="os.getppid() + 1")], capture_output=True, text=True)
    assert orphan.returncode == 1 and "working" not in orphan.stdout
    worker = subprocess.run([sys.executable, "-c", code.format(
        parent="os.getppid()")], capture_output=True, text=True)
    assert worker.returncode == 0 and "working" in worker.stdout


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"),
                    reason="no CPU affinity on this platform")
def test_a_worker_runs_on_its_share_of_the_cores():
    # The second worker of two, in a process of its own: its affinity mask
    # and torch's thread count are its share of this process's cores.
    cores = executors.usable_cores()
    code = (
        "import multiprocessing, os, torch\n"
        "from dsgdn_pyg.experiments import executors\n"
        "counter = multiprocessing.Value('i', 1)\n"
        f"executors._init_worker({cores!r}, 2, counter, 0, os.getppid())\n"
        "print(sorted(os.sched_getaffinity(0)), torch.get_num_threads())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, check=True).stdout.split("]")
    share = executors.worker_cores(1, 2, cores)
    assert out[0] + "]" == str(share)
    assert int(out[1]) == len(share)
