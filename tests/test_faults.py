"""Fault injection: kill -9 at seeded random points of ``dsgdn train`` (then
``--resume``), ``dsgdn features visual`` (then a rerun) and ``dsgdn
predict``; Ctrl-C; a full disk; a read-only output. Each must leave the
complete result or the previous state, never a half-written file."""

import contextlib
import json
import random
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from fault_runner import killed, run, temporaries
from typer.testing import CliRunner

from dsgdn_pyg.cli import app
from dsgdn_pyg.training import run_dir as files

runner = CliRunner()

SEED = 20260310
TINY = ["--synthetic-dialogues", "12", "--hidden", "32", "--num-heads", "2",
        "--batch-size", "4", "--warm-up", "1", "--device", "cpu"]


def assert_whole(folder: Path) -> None:
    """Every file under :obj:`folder` is complete: no temporary, every JSON
    and checkpoint readable in full."""
    assert not temporaries(folder), temporaries(folder)
    for path in Path(folder).rglob("*"):
        if path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".jsonl":
            [json.loads(line) for line in path.read_text().splitlines()]
        elif path.suffix == ".pt":
            torch.load(path, weights_only=True)
        elif path.suffix == ".npz":
            with np.load(path) as arrays:
                [arrays[k] for k in arrays.files]


def _whole_except_temporaries(folder: Path) -> None:
    """A killed writer may leave its temporary (removed by the next run);
    everything else is whole."""
    for tmp in temporaries(folder):
        tmp.unlink()
    assert_whole(folder)


def test_train_killed_at_a_random_point_then_resumed(tmp_path):
    rng = random.Random(SEED)
    mode = rng.choice(["write", "written", "batch"])
    count = rng.randint(3, 9)  # 9 batches, about 12 writes in 3 epochs
    out = tmp_path / "run"
    first = run(["train", *TINY, "--epochs", "3", "--out", out],
                mode=mode, count=count)
    assert killed(first), (mode, count, first.stderr)
    assert files.run_status(out) == "incomplete"
    _whole_except_temporaries(tmp_path)
    resumed = run(["train", "--resume", out])
    assert resumed.returncode == 0, resumed.stderr
    assert files.run_status(out) == "complete"
    assert_whole(out)
    epochs = [json.loads(line)["epoch"] for line in
              (out / files.METRICS).read_text().splitlines()]
    assert epochs == [1, 2, 3]


def test_ctrl_c_is_one_line_and_leaves_no_half_file(tmp_path):
    """SIGINT in the middle of writing epoch 1's last.pt: exit 130, one line
    on stderr, no temporary, the run resumable."""
    out = tmp_path / "run"
    result = run(["train", *TINY, "--epochs", "3", "--out", out],
                 mode="write", count=4, sig="SIGINT")
    assert result.returncode == 130, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: interrupted"), \
        result.stderr
    assert_whole(out)
    assert files.run_status(out) == "incomplete"


def test_sigterm_is_one_line_and_leaves_no_half_file(tmp_path):
    """SIGTERM (kill, a scheduler's stop) in the middle of a write: as
    Ctrl-C, one line and no temporary, exit 143; it died silently, its
    .lock left behind."""
    out = tmp_path / "run"
    result = run(["train", *TINY, "--epochs", "3", "--out", out],
                 mode="write", count=4, sig="SIGTERM")
    assert result.returncode == 143, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == ["error: terminated (SIGTERM); nothing half-written "
                     "was left"], result.stderr
    assert_whole(out)
    assert not (out / ".lock").exists()
    assert files.run_status(out) == "incomplete"
    result = run(["train", "--resume", out])
    assert result.returncode == 0, result.stderr


def _visual_manifest(folder: Path, count: int = 6) -> Path:
    rng = np.random.default_rng(0)
    lines = []
    for d in range(count):
        utts = []
        for i in range(3):
            np.save(folder / f"v{d}{i}.npy",
                    rng.normal(size=8).astype(np.float32))
            utts.append(dict(speaker="AB"[i % 2], text=f"u{i}",
                             visual=f"v{d}{i}.npy", label="ab"[(d + i) % 2]))
        lines.append(json.dumps(dict(dialogue_id=f"d{d}", utterances=utts,
                                     split="test" if d == 0 else "train")))
    path = folder / "manifest.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def _features(manifest, out, **fault):
    args = ["features", "visual", manifest, "--out", out, "--dim", "8"]
    if not fault:  # in-process: no fault to inject, no import to pay
        result = runner.invoke(app, [str(a) for a in args])
        assert result.exit_code == 0, result.output
        return result
    return run(args, **fault)


def _feature_files(out: Path) -> dict:
    got = {}
    for path in sorted(out.iterdir()):
        if path.suffix == ".npz":
            with np.load(path) as arrays:
                got[path.name] = {k: arrays[k].tolist() for k in arrays.files}
        elif path.is_file():
            got[path.name] = path.read_bytes()
    return got


def test_features_killed_then_rerun_completes_identically(tmp_path):
    manifest = _visual_manifest(tmp_path)
    whole = tmp_path / "whole"
    _features(manifest, whole)
    # 6 cached dialogues, then visual.npz, metadata.pkl, features.json.
    count = random.Random(SEED).randint(2, 8)
    out = tmp_path / "killed"
    first = _features(manifest, out, mode="write", count=count)
    assert killed(first), first.stderr
    assert temporaries(out)  # the killed write's half file
    rerun = _features(manifest, out, mode="none")
    assert rerun.returncode == 0, rerun.stderr
    assert "from the cache" in rerun.stdout
    assert_whole(out)
    assert _feature_files(out) == _feature_files(whole)


@pytest.fixture(scope="module")
def predict_run(tmp_path_factory):
    """A one-epoch run on visual features, and a manifest to predict."""
    folder = tmp_path_factory.mktemp("predict")
    manifest = _visual_manifest(folder, count=8)
    _features(manifest, folder / "features")
    trained = runner.invoke(app, [
        "train", "--data", str(folder / "features"), "--modalities", "v",
        "--input-dims", "data", "--classes", "data", "--epochs", "1", "--hidden", "16",
        "--num-heads", "2", "--window", "2", "--out", str(folder / "run")])
    assert trained.exit_code == 0, trained.output
    return folder, manifest


def test_predict_killed_keeps_the_previous_predictions(predict_run):
    folder, manifest = predict_run
    out = folder / "predictions.jsonl"
    out.write_text("previous\n")
    args = ["predict", folder / "run", manifest, "--out", out,
            "--features-dir", folder / "predict-features"]
    # Features of 8 dialogues cached, 3 feature files, then the output.
    count = random.Random(SEED).randint(1, 12)
    first = run(args, mode="write", count=count)
    assert killed(first), first.stderr
    assert out.read_text() == "previous\n"
    done = run(args)  # the rerun in a fresh process, as a user would
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 8 * 3
    assert not temporaries(folder)


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str, read_only: bool = False):
    """A tmpfs of :obj:`size` mounted at :obj:`path` (root only; the test
    is skipped where mounting is not permitted)."""
    path.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}",
                        "tmpfs", str(path)], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc}")
    try:
        if read_only:
            subprocess.run(["mount", "-o", "remount,ro", str(path)],
                           check=True, capture_output=True)
        yield path
    finally:
        subprocess.run(["umount", str(path)], capture_output=True)


def _one_line_error(result, *fragments) -> str:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_full_disk_is_one_line_and_keeps_the_last_checkpoint(tmp_path):
    """On a 3 MB tmpfs, epoch 1's best.pt (0.7 MB) and last.pt (2 MB) fit;
    epoch 2's last.pt does not."""
    with small_tmpfs(tmp_path / "disk", "3m") as disk:
        out = disk / "run"
        _one_line_error(runner.invoke(app, ["train", *TINY, "--epochs", "3",
                                            "--out", str(out)]),
                        "No space left on device")
        assert_whole(out)
        assert torch.load(out / files.LAST, weights_only=True)["epoch"] == 1
        assert files.run_status(out) == "incomplete"


def test_read_only_output_is_refused_before_any_work(tmp_path):
    with small_tmpfs(tmp_path / "ro", "1m", read_only=True) as disk:
        result = runner.invoke(app, ["train", *TINY, "--out",
                                     str(disk / "run")])
        _one_line_error(result, "--out", "Read-only file system")
        assert "data:" not in result.stdout  # before the data is read
