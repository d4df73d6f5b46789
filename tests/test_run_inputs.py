"""What `dsgdn train` and `dsgdn evaluate` make of questionable data and
checkpoints: a dialogue listed twice, integer dialogue ids, labels outside
the preset's classes (and `--classes data`), a width error that advises only
what `evaluate` offers, and hostile or corrupt `best.pt` files."""

import json
import os
import pickle
import re
import shutil

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from dsgdn_pyg.cli import app
from dsgdn_pyg.data import load_corpus
from dsgdn_pyg.data.synthetic import write_dialogue_folder

runner = CliRunner()
TINY = ["--modalities", "t", "--input-dims", "data", "--epochs", "1",
        "--hidden", "16", "--num-heads", "2", "--window", "2"]


def _folder(path, width=5):
    return write_dialogue_folder(path, num_dialogues=8, dims={"text": width})


def _edit_meta(folder, edit):
    path = folder / "dialogues.pkl"
    meta = pickle.loads(path.read_bytes())
    edit(meta)
    path.write_bytes(pickle.dumps(meta))
    return meta


def _train(folder, out, *options):
    return runner.invoke(app, ["train", "--data", str(folder), *TINY,
                               "--out", str(out), *options])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A one-epoch run on 5-d text features, its data and its output."""
    root = tmp_path_factory.mktemp("run")
    folder = _folder(root / "data")
    result = _train(folder, root / "run")
    assert result.exit_code == 0, result.output
    return root / "run", folder, " ".join(result.stdout.split())


def test_a_dialogue_listed_twice_in_a_split(tmp_path, one_line_error):
    folder = _folder(tmp_path / "data")
    meta = _edit_meta(folder, lambda m: m[3].append(m[3][0]))
    out = tmp_path / "run"
    one_line_error(_train(folder, out), str(folder / "dialogues.pkl"),
                   "train_ids", f"'{meta[3][0]}' is listed twice")
    assert not out.exists()


def test_integer_dialogue_ids(tmp_path):
    """MELD publishes integer ids; the .npz keys are their strings."""
    folder = _folder(tmp_path / "data")
    meta = pickle.loads((folder / "dialogues.pkl").read_bytes())
    number = {vid: i for i, vid in enumerate(sorted(meta[0]))}
    (folder / "dialogues.pkl").write_bytes(pickle.dumps(
        [{number[k]: v for k, v in table.items()} for table in meta[:3]]
        + [[number[v] for v in ids] for ids in meta[3:]]))
    with np.load(folder / "text.npz") as archive:
        arrays = {str(number[k]): archive[k] for k in archive.files}
    np.savez(folder / "text.npz", **arrays)
    result = _train(folder, tmp_path / "run")
    assert result.exit_code == 0, result.output
    assert "2 test dialogues" in " ".join(result.stdout.split())


def _stray_label(tmp_path):
    folder = _folder(tmp_path / "data")
    meta = _edit_meta(folder, lambda m: m[1][m[3][1]].__setitem__(0, 9))
    return folder, meta[3][1]


def test_a_label_outside_the_preset_classes(tmp_path, one_line_error):
    folder, vid = _stray_label(tmp_path)
    out = tmp_path / "run"
    one_line_error(_train(folder, out), str(folder / "dialogues.pkl"),
                   f"dialogue '{vid}', utterance 0: label 9",
                   "6 classes of preset 'iemocap' (expected 0..5)",
                   "--classes data")
    assert not out.exists()


def test_classes_data_recomputes_the_class_weights(tmp_path):
    folder, _ = _stray_label(tmp_path)
    result = _train(folder, tmp_path / "run", "--classes", "data")
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "10 classes of the data (class_0, class_1," in text
    assert "class weights: inverse frequency of the training labels" in text
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["train"]["extra"]["classes"] == "data"
    assert len(config["data"]["classes"]) == 10
    expected = load_corpus(folder, window=2).inverse_frequency_weights()
    assert config["train"]["class_weights"] == pytest.approx(expected)
    result = _train(folder, tmp_path / "off", "--classes", "data",
                    "--no-class-weights")
    assert result.exit_code == 0, result.output
    assert "class weights off (--no-class-weights)" in " ".join(
        result.stdout.split())
    config = json.loads((tmp_path / "off" / "config.json").read_text())
    assert config["train"]["class_weights"] is None


def test_the_preset_classes_are_said(run):
    assert "6 classes of preset 'iemocap' (happy, sad," in run[2]
    assert "class weights: the preset's" in run[2]
    config = json.loads((run[0] / "config.json").read_text())
    assert config["train"]["extra"]["classes"] == "preset"
    assert len(config["train"]["class_weights"]) == 6


def test_classes_option_is_checked(tmp_path, one_line_error):
    one_line_error(_train(_folder(tmp_path / "d"), tmp_path / "r",
                          "--classes", "mine"),
                   "--classes", "preset, data", "'mine'")
    assert not (tmp_path / "r").exists()


def test_evaluate_width_error_advises_no_train_option(run, tmp_path,
                                                      one_line_error):
    run_dir = run[0]
    other = _folder(tmp_path / "wide", width=7)
    line = one_line_error(runner.invoke(app, ["evaluate", str(run_dir),
                                              "--data", str(other)]),
                          "width 7", "the checkpoint expects 5")
    assert "--input-dims" not in line


class _Payload:
    """Unpickling this would create ``marker``: it must never happen."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker, ))


@pytest.mark.parametrize("kind", ["code", "random", "truncated"])
def test_hostile_or_corrupt_checkpoint(run, tmp_path, kind, one_line_error):
    run_dir = tmp_path / "run"
    shutil.copytree(run[0], run_dir)
    best = run_dir / "best.pt"
    marker = tmp_path / "executed"
    if kind == "code":
        payload = torch.load(best, weights_only=True)
        payload["model"] = _Payload(marker)
        torch.save(payload, best)
    elif kind == "random":
        best.write_bytes(np.random.default_rng(0).bytes(5000))
    else:
        best.write_bytes(best.read_bytes()[:300])
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"dialogue_id": "d", "utterances": [
        {"speaker": "A", "text": "hi"}]}) + "\n")
    for args in (["evaluate", str(run_dir)],
                 ["predict", str(run_dir), str(manifest), "--out",
                  str(tmp_path / "p.jsonl")]):
        line = one_line_error(runner.invoke(app, args), str(best),
                              "expected the best.pt written by `dsgdn train`")
        assert "weights_only" not in line and "succeed" not in line
    assert not marker.exists()


def test_check_run_dir_says_what_is_missing(tmp_path, monkeypatch):
    from pathlib import Path

    from dsgdn_pyg.errors import DataError
    from dsgdn_pyg.training.run_dir import check_run_dir

    (tmp_path / "afile").write_text("x")
    (tmp_path / "empty").mkdir()
    (tmp_path / "seeds" / "seed-3").mkdir(parents=True)
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "best.pt").write_bytes(b"")
    for name, words in (("absent", "no such directory"),
                        ("afile", "is a file, not a directory"),
                        ("empty", "no best.pt (nor the seed-<n> runs")):
        with pytest.raises(DataError, match=rf"^RUN_DIR .*{name}: "
                           + words.replace("(", r"\(")):
            check_run_dir(tmp_path / name)
    check_run_dir(tmp_path / "seeds")  # several seeds: each is read later
    check_run_dir(tmp_path / "one")
    monkeypatch.setattr(Path, "iterdir", lambda self: (_ for _ in ()).throw(
        PermissionError(13, "Permission denied")))
    with pytest.raises(DataError, match="cannot be read .Permission denied"):
        check_run_dir(tmp_path / "empty")


@pytest.mark.parametrize("seeds", ["1", "1,2"])
def test_a_run_reads_its_own_data_from_any_working_directory(
        tmp_path, monkeypatch, seeds):
    """`--data data` given relative is recorded as an absolute path too:
    evaluated from a folder holding another `data`, the run still reads
    its own (it used to read the other one, silently)."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    write_dialogue_folder(tmp_path / "a" / "data", num_dialogues=8,
                          dims={"text": 5}, seed=0)
    write_dialogue_folder(tmp_path / "b" / "data", num_dialogues=8,
                          dims={"text": 5}, seed=1)
    monkeypatch.chdir(tmp_path / "a")
    result = _train("data", tmp_path / "run", "--seeds", seeds)
    assert result.exit_code == 0, result.output
    seed_dir = tmp_path / "run" / ("" if seeds == "1" else "seed-1")
    data = json.loads((seed_dir / "config.json").read_text())["data"]
    assert data["source"] == "data"
    assert data["path"] == str(tmp_path / "a" / "data")
    evaluate = ["evaluate", str(tmp_path / "run"), "--split", "test"]
    here = runner.invoke(app, evaluate)
    assert here.exit_code == 0, here.output
    monkeypatch.chdir(tmp_path / "b")
    there = runner.invoke(app, evaluate)
    assert there.exit_code == 0, there.output

    def metrics(result):  # without the time it took
        return re.sub(r"in [0-9.]+ s", "", result.stdout)
    assert metrics(there) == metrics(here)
    # A resume from there would train on the other data: refused.
    resume = ["train", "--resume", str(tmp_path / "run")]
    result = runner.invoke(app, resume)
    assert result.exit_code == 2, result.output
    assert "--resume" in result.output and "started in" in result.output
    monkeypatch.chdir(tmp_path / "a")
    result = runner.invoke(app, resume)
    assert result.exit_code == 0, result.output
    # Runs that recorded no path read their source from the working
    # directory, as before; the path is no part of a run's identity, so
    # they still resume.
    from dsgdn_pyg.training.run_dir import identity_digest
    config = json.loads((seed_dir / "config.json").read_text())
    old = dict(config, data={k: v for k, v in data.items() if k != "path"})
    assert identity_digest(old) == identity_digest(config)


def test_data_extracted_otherwise_than_the_runs_is_refused(
        tmp_path, monkeypatch):
    """features.json says how each modality was extracted; the run records
    it. Another model, or the run's own folder extracted again from other
    dialogues, would have been measured silently."""
    folder = write_dialogue_folder(tmp_path / "data", num_dialogues=8,
                                   dims={"text": 5},
                                   classes=[f"c{i}" for i in range(6)])
    info_path = folder / "features.json"
    info = json.loads(info_path.read_text())
    info["modalities"]["text"].update(model="model-a",
                                      dialogues_sha256="aaa")
    info_path.write_text(json.dumps(info))
    result = _train(folder, tmp_path / "run", "--classes", "data")
    assert result.exit_code == 0, result.output
    evaluate = ["evaluate", str(tmp_path / "run")]

    def edit(**entry):
        changed = json.loads(json.dumps(info))
        changed["modalities"]["text"].update(entry)
        info_path.write_text(json.dumps(changed))

    def refused(args, *parts):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        line = " ".join(result.output.split())
        for part in ("features.json", "the text features differ", *parts):
            assert part in line, line

    edit(model="model-b")
    refused(evaluate, "model 'model-b', the run's was 'model-a'")
    refused([*evaluate, "--data", str(folder)], "model 'model-b'")
    edit(dialogues_sha256="bbb")
    refused(evaluate, "extracted again from other dialogues")
    refused([*evaluate, "--data", str(folder)], "extracted again")  # named
    # Other data, extracted as the run's was: its dialogues may differ.
    other = tmp_path / "other"
    shutil.copytree(folder, other)
    result = runner.invoke(app, [*evaluate, "--data", str(other)])
    assert result.exit_code == 0, result.output
    edit()
    assert runner.invoke(app, evaluate).exit_code == 0
    # A model's name and the folder it loads from are one model (say the
    # bundled all-MiniLM-L6-v2): the run records 'model-a', the other data
    # the folder ./model-a, which the name loads from where it exists.
    (tmp_path / "model-a").mkdir()
    changed = json.loads((other / "features.json").read_text())
    changed["modalities"]["text"]["model"] = str(tmp_path / "model-a")
    (other / "features.json").write_text(json.dumps(changed))
    monkeypatch.chdir(tmp_path / "run")  # no folder model-a here
    refused([*evaluate, "--data", str(other)], "model")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, [*evaluate, "--data", str(other)])
    assert result.exit_code == 0, result.output
