"""`dsgdn train` and `dsgdn evaluate` end to end on small synthetic data,
and their one-line errors."""

import json
import pickle

import numpy as np
import pytest
from typer.testing import CliRunner

from dsgdn_pyg.cli import app

from conftest import nan_feature_folder
from dsgdn_pyg.training import run_dir as files

runner = CliRunner()
SMALL = ["--hidden", "32", "--num-heads", "2", "--synthetic-dialogues", "16",
         "--batch-size", "8"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "tiny"
    result = runner.invoke(app, ["train", "--epochs", "2", "--warm-up", "1",
                                 "--out", str(out), "--device", "cpu",
                                 *SMALL])
    assert result.exit_code == 0, result.output
    return out, result.output


def test_train_writes_the_run_directory(run):
    out, output = run
    config = json.loads((out / files.CONFIG).read_text())
    assert config["model"]["hidden"] == 32
    assert config["train"]["epochs"] == 2
    lines = (out / files.METRICS).read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["epoch"] for r in records] == [1, 2]
    assert records[1]["modality_dropout"] and not records[0]["modality_dropout"]
    report = json.loads((out / files.REPORT_JSON).read_text())
    best = max(records, key=lambda r: r["valid_f1"])
    assert report["best_epoch"] == best["epoch"]
    assert report["test"]["weighted_f1"] == pytest.approx(best["test_f1"])
    assert not report["legacy_protocol"]
    assert len(report["test"]["confusion"]) == 6
    assert "confusion matrix" in (out / files.REPORT_MD).read_text()
    assert (out / files.CHECKPOINT).is_file()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    assert "weighted F1" in output and "valid" in output


def test_evaluate_reproduces_the_report(run):
    out, _ = run
    result = runner.invoke(app, ["evaluate", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads((out / files.REPORT_JSON).read_text())
    assert f"{100 * report['test']['weighted_f1']:.2f}" in result.output

    from dsgdn_pyg.training import evaluate_run
    metrics, _ = evaluate_run(out, split="valid")
    assert metrics.weighted_f1 == pytest.approx(
        report["valid"]["weighted_f1"])


def test_several_seeds_and_legacy_selection(tmp_path):
    out = tmp_path / "seeds"
    result = runner.invoke(app, ["train", "--epochs", "1", "--seeds", "1,2",
                                 "--select-on", "test", "--out", str(out),
                                 *SMALL])
    assert result.exit_code == 0, result.output
    assert "LEGACY" in result.output and "mean ± std" in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["legacy_protocol"] and summary["seeds"] == [1, 2]
    values = summary["test_weighted_f1"]["values"]
    assert summary["test_weighted_f1"]["mean"] == pytest.approx(
        np.mean(values))
    assert summary["test_weighted_f1"]["std"] == pytest.approx(
        np.std(values, ddof=1))
    assert (out / "seed-1" / files.CHECKPOINT).is_file()
    assert (out / "seed-2" / files.CHECKPOINT).is_file()
    # evaluate says so too, for the run and for each seed.
    for run in (out, out / "seed-1"):
        result = runner.invoke(app, ["evaluate", str(run)])
        assert result.exit_code == 0, result.output
        assert "LEGACY protocol" in " ".join(result.stdout.split())


def test_a_seed_not_yet_trained_is_said_and_a_seed_is_not_resumed_alone(
        tmp_path):
    import shutil
    out = tmp_path / "seeds"
    result = runner.invoke(app, ["train", "--epochs", "1", "--seeds",
                                 "1,2,3", "--out", str(out), *SMALL])
    assert result.exit_code == 0, result.output
    # Interrupted during seed 2: seed 3 never started.
    shutil.rmtree(out / "seed-3")
    (out / "summary.json").unlink()
    result = runner.invoke(app, ["evaluate", str(out)])
    assert result.exit_code == 0, result.output
    warning = " ".join(result.stderr.split())
    assert "seed 3 of seeds 1, 2, 3 has no checkpoint yet" in warning
    assert f"dsgdn train --resume {out} finishes the run" in warning
    assert "2 of 3 seeds" in " ".join(result.stdout.split())
    # Resumed on its own, a seed's directory started the whole run of
    # three seeds inside it.
    _assert_one_line_error(
        runner.invoke(app, ["train", "--resume", str(out / "seed-2")]),
        "one seed of a run of seeds 1, 2, 3",
        f"dsgdn train --resume {out}")
    assert sorted(p.name for p in (out / "seed-2").iterdir()) == sorted(
        p.name for p in (out / "seed-1").iterdir())


def _assert_one_line_error(result, *fragments):
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error:")
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_train_errors_are_one_line(tmp_path):
    _assert_one_line_error(
        runner.invoke(app, ["train", "--data", str(tmp_path / "nope.pkl")]),
        "nope.pkl")
    _assert_one_line_error(
        runner.invoke(app, ["train", "--modalities", "tx"]), "t, a, v")
    _assert_one_line_error(
        runner.invoke(app, ["train", "--seeds", "1,x"]), "--seeds")
    _assert_one_line_error(
        runner.invoke(app, ["train", "--select-on", "train"]), "--select-on")


def test_width_that_does_not_match_the_preset(iemocap_dir):
    # The real IEMOCAP text features are 384-d; the preset expects 1024.
    _assert_one_line_error(
        runner.invoke(app, ["train", "--data", str(iemocap_dir),
                            "--modalities", "t"]),
        "'text' has width 384", "1024")


def test_bad_data_folder_is_refused(tmp_path):
    folder = tmp_path / "data"
    first = nan_feature_folder(folder)
    _assert_one_line_error(
        runner.invoke(app, ["train", "--data", str(folder),
                            "--input-dims", "data", "--out",
                            str(tmp_path / "run")]),
        first)
    assert not (tmp_path / "run").exists()


def test_evaluate_errors_are_one_line(tmp_path):
    _assert_one_line_error(runner.invoke(app, ["evaluate", str(tmp_path)]),
                           "best.pt")
    (tmp_path / files.CHECKPOINT).write_bytes(pickle.dumps({"x": 1}) + b"!")
    _assert_one_line_error(runner.invoke(app, ["evaluate", str(tmp_path)]),
                           "best.pt")


def test_fused_adam_takes_the_same_steps_as_the_default():
    """The trainer's fused Adam is an implementation choice, not a different
    optimiser: a few steps with weight decay land where the default
    (multi-tensor) Adam lands."""
    import torch

    from dsgdn_pyg.training.trainer import make_adam

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(12, 16), torch.nn.GELU(),
                                torch.nn.Linear(16, 3))
    twin = torch.nn.Sequential(*[torch.nn.Linear(12, 16), torch.nn.GELU(),
                                 torch.nn.Linear(16, 3)])
    twin.load_state_dict(model.state_dict())
    start = [p.detach().clone() for p in model.parameters()]
    fused = make_adam(model.parameters(), 1e-2, 1e-3, torch.device("cpu"))
    assert fused.defaults["fused"]
    default = torch.optim.Adam(twin.parameters(), lr=1e-2,
                               weight_decay=1e-3)
    x, y = torch.randn(40, 12), torch.randint(0, 3, (40, ))
    for _ in range(5):
        for net, opt in ((model, fused), (twin, default)):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
    for p, q, p0 in zip(model.parameters(), twin.parameters(), start):
        assert (p - p0).abs().max() > 1e-3  # the steps moved it
        assert torch.allclose(p, q, atol=1e-6)


def test_adam_falls_back_where_torch_has_no_fused_kernel(monkeypatch):
    import torch

    from dsgdn_pyg.training import trainer

    real = torch.optim.Adam

    def no_fused(params, **kwargs):
        if kwargs.get("fused"):
            raise RuntimeError("fused=True requires ... supported devices")
        return real(params, **kwargs)

    monkeypatch.setattr(torch.optim, "Adam", no_fused)
    weights = [torch.nn.Parameter(torch.ones(3))]
    opt = trainer.make_adam(iter(weights), 0.1, 0.0, torch.device("cpu"))
    assert not opt.defaults["fused"]
    assert opt.param_groups[0]["params"][0] is weights[0]


@pytest.fixture
def one_thread():
    """One torch thread: these runs are tiny, and two threads on a busy
    machine only wait for each other."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


TINY = ["--synthetic-dialogues", "12", "--hidden", "32", "--num-heads", "2",
        "--batch-size", "4"]


@pytest.mark.parametrize("option, value, fragment", [
    ("--hidden", "0", ">= 1"), ("--num-heads", "0", ">= 1"),
    ("--heads", "0", ">= 1"), ("--dropout", "nan", "[0, 1)"),
    ("--dropout", "1", "[0, 1)"), ("--graph-dropout", "-0.1", "[0, 1)"),
    ("--q-base", "nan", "[0, 1]"), ("--q-base", "-1", "[0, 1]"),
    ("--q-base", "1.5", "[0, 1]"), ("--q-lambda", "nan", "finite"),
    ("--p-exe", "5", "[0, 1]"), ("--p-exe", "nan", "[0, 1]"),
    ("--lr", "inf", "finite"), ("--lr", "nan", "finite"),
    ("--lr", "0", "> 0"), ("--weight-decay", "-1", ">= 0"),
    ("--epochs", "0", ">= 1"), ("--batch-size", "0", ">= 1"),
    ("--window", "-3", "got -3"), ("--warm-up", "-1", ">= 0"),
    ("--seed", "99999999999999999999", "99999999999999999999"),
    ("--seeds", "1,-2", "got -2"), ("--split-seed", "-1", "got -1"),
    ("--synthetic-dialogues", "0", ">= 3"),
    ("--synthetic-dialogues", "2", "expected an integer >= 3, got 2"),
    ("--valid-fraction", "0", "(0, 1)"), ("--valid-fraction", "1.5", "(0, 1)"),
    ("--input-dims", "wide", "preset"),
    ("--device", "tpu", "cpu or cuda"), ("--device", "cuda:99", "cuda:99"),
])
def test_every_bad_option_is_refused_before_any_work(
        tmp_path, option, value, fragment):
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", option, value, "--out", str(out)])
    _assert_one_line_error(result, option, fragment)
    assert not out.exists()


def test_cuda_without_cuda_is_refused(tmp_path):
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    _assert_one_line_error(
        runner.invoke(app, ["train", "--device", "cuda", "--out",
                            str(tmp_path / "run")]), "--device cuda",
        "no CUDA")
    assert not (tmp_path / "run").exists()


def test_device_is_honoured_and_recorded(tmp_path, monkeypatch, one_thread):
    """The requested device reaches the trainer (here a spy on the model's
    move), is printed and recorded in config.json."""
    from dsgdn_pyg.models.amb_dsgdn import AMBDSGDN
    moved = []
    real_to = AMBDSGDN.to

    def spy(self, *args, **kwargs):
        moved.append(str(args[0]) if args else kwargs)
        return real_to(self, *args, **kwargs)

    monkeypatch.setattr(AMBDSGDN, "to", spy)
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", "--epochs", "1", "--device", "cpu",
                                 "--out", str(out), *TINY])
    assert result.exit_code == 0, result.output
    assert moved and set(moved) == {"cpu"}
    assert "device: cpu" in result.output
    config = json.loads((out / files.CONFIG).read_text())
    assert config["train"]["device"] == "cpu"
    assert config["request"]["device"] == "cpu"


def _strict_json_lines(path):
    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")
    return [json.loads(line, parse_constant=refuse)
            for line in path.read_text().splitlines()]


def test_a_diverging_run_stops_with_exit_3(tmp_path, one_thread):
    """A huge finite learning rate (a non-finite one is refused above)
    makes the loss NaN in epoch 2: the run stops there, best.pt keeps the
    finite epoch-1 model, metrics.jsonl is strict JSON, and the run
    records where it diverged (evaluate says so; a resume tries again and
    records it anew)."""
    import torch
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", "--synthetic-dialogues", "12",
                                 "--epochs", "3", "--hidden", "32",
                                 "--lr", "1e30", "--out", str(out)])
    assert result.exit_code == 3, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert "diverged at epoch 2, batch 1" in lines[0]
    assert "best.pt keeps epoch 1" in lines[0]
    records = _strict_json_lines(out / files.METRICS)
    assert [r["epoch"] for r in records] == [1]
    best = torch.load(out / files.CHECKPOINT, weights_only=True)
    assert best["epoch"] == 1
    assert all(t.isfinite().all() for t in best["state_dict"].values()
               if t.is_floating_point())
    assert files.run_status(out) == "diverged"
    assert files.divergence(out) == lines[0][len("error: "):]
    evaluated = runner.invoke(app, ["evaluate", str(out)])
    assert evaluated.exit_code == 0, evaluated.output
    warning = " ".join(evaluated.stderr.split())
    assert "warning:" in warning and "did not finish: training diverged " \
        "at epoch 2" in warning and "best checkpoint, epoch 1" in warning
    (out / files.DIVERGED).unlink()  # as if killed before it was written
    assert files.run_status(out) == "incomplete"
    resumed = runner.invoke(app, ["train", "--resume", str(out)])
    assert resumed.exit_code == 3, resumed.output
    assert "diverged at epoch 2" in files.divergence(out)


def test_a_non_finite_parameter_stops_the_run(tmp_path, monkeypatch,
                                              one_thread):
    """A parameter turned infinite by an epoch's last step (its loss was
    still finite) is caught by the once-per-epoch check."""
    import torch

    from dsgdn_pyg.errors import TrainingDiverged
    from dsgdn_pyg.training import trainer
    from dsgdn_pyg.training.session import TrainRequest, run_training

    real = trainer.make_adam
    steps = []

    def poisoned(parameters, *args):
        optimizer = real(parameters, *args)
        step = optimizer.step

        def poisoned_step(*a, **k):
            step(*a, **k)
            steps.append(1)
            if len(steps) == 2:  # the one batch of epoch 2
                with torch.no_grad():
                    optimizer.param_groups[0]["params"][0].fill_(torch.inf)
        optimizer.step = poisoned_step
        return optimizer

    monkeypatch.setattr(trainer, "make_adam", poisoned)
    request = TrainRequest(out=tmp_path / "run", device="cpu",
                           synthetic=dict(num_dialogues=12),
                           model_overrides=dict(hidden=32),
                           train_overrides=dict(epochs=3))
    with pytest.raises(TrainingDiverged, match="epoch 2.*parameter"):
        run_training(request, log=lambda _: None)
    assert torch.load(tmp_path / "run" / files.CHECKPOINT,
                      weights_only=True)["epoch"] == 1


def test_strict_json_for_non_finite_values(tmp_path):
    files.write_metrics(tmp_path / "m.jsonl",
                        [dict(loss=float("nan")), dict(loss=float("-inf"))])
    assert _strict_json_lines(tmp_path / "m.jsonl") == [dict(loss=None)] * 2


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A finished one-epoch run to reuse as an existing --out."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("small") / "run"
    result = runner.invoke(app, ["train", "--epochs", "1", "--out", str(out),
                                 *TINY])
    torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output
    return out


def test_out_holding_a_run_is_refused(small_run):
    before = {p: p.read_bytes() for p in small_run.iterdir()}
    _assert_one_line_error(
        runner.invoke(app, ["train", "--seeds", "1,2", "--out",
                            str(small_run), *TINY]),
        "holds another run", "--resume", "--overwrite")
    assert {p: p.read_bytes() for p in small_run.iterdir()} == before


def test_overwrite_clears_the_old_run_first(small_run, tmp_path, one_thread):
    import shutil
    out = tmp_path / "run"
    shutil.copytree(small_run, out)
    result = runner.invoke(app, ["train", "--seeds", "1,2", "--epochs", "1",
                                 "--overwrite", "--out", str(out), *TINY])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json", "seed-1", "seed-2", "summary.json"]


@pytest.mark.parametrize("failure", ["bad-data", "ctrl-c"])
def test_refused_overwrite_keeps_the_old_run(small_run, tmp_path,
                                             monkeypatch, failure):
    # --overwrite cleared the old run before reading the new data: a bad
    # --data, or Ctrl-C while it loaded, lost the old run.
    import shutil
    import dsgdn_pyg.data.corpus as corpus
    out = tmp_path / "run"
    shutil.copytree(small_run, out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    args = ["train", "--overwrite", "--out", str(out), *TINY]
    if failure == "bad-data":  # refused only once read
        from dsgdn_pyg.data.synthetic import write_dialogue_folder
        bad = write_dialogue_folder(tmp_path / "data", dims={"text": 5})
        (bad / "text.npz").write_bytes(b"PK\x03\x04 not a zip")
        result = runner.invoke(app, [
            "train", "--overwrite", "--out", str(out), "--data", str(bad),
            "--modalities", "t", "--input-dims", "data"])
        assert result.exit_code == 2, result.output
        assert "text.npz" in result.output
    else:
        def interrupted(*args, **kwargs):
            raise KeyboardInterrupt
        monkeypatch.setattr(corpus, "load_corpus", interrupted)
        result = runner.invoke(app, args)
        assert result.exit_code == 130, result.output
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before


def test_out_that_is_a_file_or_holds_other_files(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    _assert_one_line_error(
        runner.invoke(app, ["train", "--out", str(afile)]), "is a file")
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    for extra in ([], ["--overwrite"]):
        _assert_one_line_error(
            runner.invoke(app, ["train", "--out", str(folder), *extra]),
            "notes.txt", "did not write")
    assert (folder / "notes.txt").read_text() == "keep me"
    _assert_one_line_error(
        runner.invoke(app, ["train", "--resume", str(tmp_path / "none")]),
        "--resume", "no run to resume")


def test_unwritable_out_is_refused_before_any_work(tmp_path, monkeypatch):
    """Where the process may not write (simulated: root ignores chmod),
    a one-line error names --out, before the data is read."""
    import dsgdn_pyg.data.corpus as corpus
    from pathlib import Path

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "touch", refuse)
    monkeypatch.setattr(corpus, "load_corpus", None)  # never reached
    _assert_one_line_error(
        runner.invoke(app, ["train", "--out", str(tmp_path / "run")]),
        "--out", "cannot write there", "Permission denied")


def test_disk_full_during_a_save_keeps_the_previous_checkpoint(
        tmp_path, monkeypatch, one_thread):
    """ENOSPC while writing epoch 2's last.pt: one-line error naming it,
    exit 2, epoch 1's last.pt intact, no temporary left."""
    import errno

    import torch

    from dsgdn_pyg.training import run_dir

    real = run_dir.atomic_write
    saves = []

    def full_disk(path, write):
        if path.name == files.LAST:
            saves.append(path)
            if len(saves) == 2:
                def partial(file):
                    file.write(b"half a checkpoint")
                    raise OSError(errno.ENOSPC, "No space left on device")
                return real(path, partial)
        return real(path, write)

    monkeypatch.setattr(run_dir, "atomic_write", full_disk)
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", "--epochs", "3", "--out", str(out),
                                 *TINY])
    _assert_one_line_error(result, "last.pt", "No space left on device")
    assert torch.load(out / files.LAST, weights_only=True)["epoch"] == 1
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    assert files.run_status(out) == "incomplete"


def test_stale_temporaries_are_removed_on_start(tmp_path, one_thread):
    """A run killed during its very first write leaves only a temporary:
    the next start removes it and is not refused as another run."""
    out = tmp_path / "run"
    out.mkdir()
    stale = out / ".config.json.0123456789ab.tmp"
    stale.write_text("{half")
    result = runner.invoke(app, ["train", "--epochs", "1", "--out", str(out),
                                 *TINY])
    assert result.exit_code == 0, result.output
    assert not stale.exists()
    assert files.run_status(out) == "complete"


def test_run_status(tmp_path):
    run = tmp_path / "run"
    assert files.run_status(run) == "empty"
    run.mkdir()
    (run / ".config.json.0123456789ab.tmp").write_text("{")
    assert files.run_status(run) == "empty"
    files.write_json(run / files.CONFIG, {})
    assert files.run_status(run) == "incomplete"
    files.write_json(run / files.SUMMARY, {})
    assert files.run_status(run) == "complete"


@pytest.mark.parametrize("out", [None, "deep/er/run"])
def test_bad_data_leaves_no_run_folder_behind(tmp_path, monkeypatch, out):
    """Data that passes the path checks but cannot be read: the folders
    made for the run go again, runs/ (the default's parent) and any missing
    parents of --out included; one that was there stays."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "junk.pkl").write_bytes(b"junk\n")
    args = ["train", "--data", "junk.pkl"] + (["--out", out] if out else [])
    _assert_one_line_error(runner.invoke(app, args), "junk.pkl",
                           "not a readable pickle")
    assert [p.name for p in tmp_path.iterdir()] == ["junk.pkl"]
    (tmp_path / "runs" / "older").mkdir(parents=True)
    _assert_one_line_error(runner.invoke(app, args[:3]), "junk.pkl")
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["older"]
