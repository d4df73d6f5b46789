"""`dsgdn train` and `dsgdn evaluate` end to end on small synthetic data,
and their one-line errors."""

import json
import pickle

import numpy as np
import pytest
from typer.testing import CliRunner

from dsgdn_pyg.cli import app
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
        runner.invoke(app, ["train", "--select-on", "train"]), "select_on")


def test_width_that_does_not_match_the_preset(iemocap_dir):
    # The real IEMOCAP text features are 384-d; the preset expects 1024.
    _assert_one_line_error(
        runner.invoke(app, ["train", "--data", str(iemocap_dir),
                            "--modalities", "t"]),
        "'text' has width 384", "1024")


def test_bad_data_folder_is_refused(tmp_path):
    from dsgdn_pyg.data.synthetic import write_dialogue_folder
    folder = tmp_path / "data"
    write_dialogue_folder(folder, num_dialogues=6)
    npz = next(folder.glob("text*.npz"))
    arrays = dict(np.load(npz))
    first = sorted(arrays)[0]
    arrays[first][0, 0] = np.nan
    np.savez(npz, **arrays)
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
