"""``dsgdn train --resume``: a run killed (SIGKILL) at any point and resumed
ends with exactly the files of the uninterrupted run: metrics, selected
epoch, ``best.pt`` and ``last.pt`` bit for bit (CPU)."""

import json

import pytest
import torch

from fault_runner import assert_same, killed, run, run_contents, temporaries

from dsgdn_pyg.training import run_dir as files

# 9 training dialogues in batches of 4: 3 batches per epoch; modality
# dropout (and its random draws) from epoch 2.
TINY = ["--synthetic-dialogues", "12", "--hidden", "16", "--num-heads", "2",
        "--batch-size", "4", "--warm-up", "1", "--device", "cpu"]


def _train(out, *extra, **fault):
    return run(["train", *TINY, "--out", out, *extra], **fault)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run, 3 epochs, one seed."""
    out = tmp_path_factory.mktemp("reference") / "run"
    done = _train(out, "--epochs", "3")
    assert done.returncode == 0, done.stderr
    return out


def test_killed_three_times_then_resumed_is_bit_identical(reference,
                                                          tmp_path):
    out = tmp_path / "run"
    # 1. Killed while writing epoch 1's last.pt (the 5th atomic write):
    #    half a temporary file stays, no last.pt yet.
    first = _train(out, "--epochs", "3", mode="write", count=5)
    assert killed(first), first.stderr
    assert temporaries(out) and not (out / files.LAST).exists()
    assert files.run_status(out) == "incomplete"
    # 2. Resumed (from scratch: no last.pt), killed in the middle of
    #    epoch 2 (its 2nd batch, the 5th overall).
    second = run(["train", "--resume", out], mode="batch", count=5)
    assert killed(second), second.stderr
    assert not temporaries(out)
    assert torch.load(out / files.LAST, weights_only=True)["epoch"] == 1
    # 3. Resumed from epoch 1, killed right after epoch 2's last.pt is in
    #    place.
    third = run(["train", "--resume", out], mode="written:last.pt",
                count=1)
    assert killed(third), third.stderr
    assert torch.load(out / files.LAST, weights_only=True)["epoch"] == 2
    assert files.run_status(out) == "incomplete"
    # 4. Resumed to the end.
    last = run(["train", "--resume", out])
    assert last.returncode == 0, last.stderr
    assert files.run_status(out) == "complete"
    assert not temporaries(out)

    got, want = run_contents(out), run_contents(reference)
    assert set(got) == set(want) == {
        "config.json", "metrics.jsonl", "best.pt", "last.pt", "report.json",
        "summary.json"}
    assert_same(got, want)
    report = json.loads((out / files.REPORT_JSON).read_text())
    assert torch.load(out / files.CHECKPOINT, weights_only=True)["epoch"] \
        == report["best_epoch"]


def test_resume_options_must_agree_with_the_run(reference):
    """In-process: a contradicting option is refused; the same values are
    fine, and a complete run is read back, not trained again."""
    from typer.testing import CliRunner

    from dsgdn_pyg.cli import app

    runner = CliRunner()
    bad = runner.invoke(app, ["train", "--resume", str(reference), "--lr",
                              "0.5"])
    assert bad.exit_code == 2, bad.output
    assert "--lr" in bad.stderr and "0.5" in bad.stderr
    before = (reference / files.LAST).stat().st_mtime_ns
    same = runner.invoke(app, ["train", "--resume", str(reference),
                               "--epochs", "3", "--hidden", "16"])
    assert same.exit_code == 0, same.output
    assert "read back" in same.output
    assert (reference / files.LAST).stat().st_mtime_ns == before


def test_several_seeds_resume_the_unfinished_one(tmp_path):
    seeds = ["--seeds", "1,2", "--epochs", "2"]
    whole = tmp_path / "whole"
    assert _train(whole, *seeds).returncode == 0
    out = tmp_path / "killed"
    # 6 batches per seed: the 11th is seed 2's epoch 2, batch 2.
    first = _train(out, *seeds, mode="batch", count=11)
    assert killed(first)
    assert (out / "seed-1" / files.REPORT_JSON).is_file()
    assert not (out / "seed-2" / files.REPORT_JSON).exists()
    resumed = run(["train", "--resume", out])
    assert resumed.returncode == 0, resumed.stderr
    assert "seed 1: finished" in resumed.stdout
    assert_same(run_contents(out), run_contents(whole))
