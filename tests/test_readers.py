"""Readers of feature bundles and dialogue folders, and every data error."""

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from dsgdn_pyg.data.readers import (IEMOCAP_CLASSES, MELD_CLASSES,
                                    read_dialogue_folder, read_feature_bundle)
from dsgdn_pyg.data.synthetic import (make_feature_bundle,
                                      write_dialogue_folder,
                                      write_feature_bundle)
from dsgdn_pyg.errors import DataError

DIMS = {"text": 8, "audio": 6, "visual": 4}


def raises_data_error(match, func, *args, **kwargs):
    """Calls :obj:`func`, expects a one-line :class:`DataError`."""
    with pytest.raises(DataError, match=match) as info:
        func(*args, **kwargs)
    assert "\n" not in str(info.value)
    return str(info.value)


# Feature bundles ------------------------------------------------------------


def dump(path, obj):
    path.write_bytes(pickle.dumps(obj, protocol=2))
    return path


def test_iemocap_bundle(tmp_path):
    bundle = make_feature_bundle("iemocap", num_dialogues=8, dims=DIMS)
    path = dump(tmp_path / "iemocap_multimodal_features.pkl", bundle)
    records = read_feature_bundle(path)
    assert records.name == "iemocap" and records.source == str(path)
    assert records.classes == IEMOCAP_CLASSES
    assert records.modality_dims == DIMS
    assert records.num_speakers == 2 and records.speaker_vocab == ["M", "F"]
    assert records.valid_ids is None
    assert records.train_ids == bundle[10]
    assert records.test_ids == sorted(bundle[11])  # a set: sorted
    assert set(records.dialogues) == set(bundle[0])
    for vid, dialogue in records.dialogues.items():
        expected = [{"M": 0, "F": 1}[s] for s in bundle[1][vid]]
        assert dialogue.speaker.tolist() == expected
        assert dialogue.label.tolist() == bundle[2][vid]
        np.testing.assert_array_equal(dialogue.features["text"], bundle[3][vid])
        np.testing.assert_array_equal(dialogue.features["audio"],
                                      np.stack(bundle[7][vid]))
        np.testing.assert_array_equal(dialogue.features["visual"],
                                      np.stack(bundle[8][vid]))
        assert all(a.dtype == np.float32 for a in dialogue.features.values())
        assert dialogue.label.dtype == dialogue.speaker.dtype == np.int64


def test_meld_bundle(tmp_path):
    bundle = make_feature_bundle("meld", num_dialogues=6,
                                 dims={"text": 5, "audio": 3, "visual": 2})
    assert len(bundle) == 13
    records = read_feature_bundle(dump(tmp_path / "meld.pkl", bundle))
    assert records.name == "meld" and records.classes == MELD_CLASSES
    assert records.num_speakers == 9 and records.speaker_vocab is None
    assert records.modality_dims == {"text": 5, "audio": 3, "visual": 2}
    for vid, dialogue in records.dialogues.items():
        assert dialogue.speaker.tolist() == \
            np.argmax(bundle[1][vid], axis=1).tolist()


def test_bundle_written_to_disk_round_trips(tmp_path):
    path = write_feature_bundle(tmp_path / "b.pkl", "iemocap", seed=3)
    assert read_feature_bundle(path).modality_dims == DIMS


def _bundle_case(name):
    """A broken IEMOCAP bundle and the error it must raise."""
    b = list(make_feature_bundle("iemocap", num_dialogues=6, dims=DIMS))
    vid = b[10][0]
    n = len(b[2][vid])
    if name == "not a tuple":
        return dict(zip("abc", b)), r"expected a tuple of 12 items .*got dict"
    if name == "wrong length":
        return tuple(b[:10]), r"expected a tuple of 12 items .*got a tuple of 10"
    if name == "field not a dict":
        b[2] = list(b[2].values())
        return b, r"videoLabels: expected a dict keyed by dialogue id, got"
    if name == "missing dialogue":
        del b[7][vid]
        return b, rf"videoAudio has no entry for dialogue '{vid}'"
    if name == "feature rows":
        b[3][vid] = b[3][vid][:-1]
        return b, (rf"\(videoText\): dialogue '{vid}' has {n - 1} feature rows "
                   rf"but {n} utterances")
    if name == "labels length":
        b[2][vid] = b[2][vid] + [0]
        return b, rf"dialogue '{vid}' has {n + 1} labels but {n} speakers"
    if name == "label range":
        b[2][vid][1] = 6
        return b, (rf"dialogue '{vid}', utterance 1: label 6 is outside the 6 "
                   rf"classes \(expected 0..5\)")
    if name == "non-integer label":
        b[2][vid][0] = 1.5
        return b, (rf"dialogue '{vid}', utterance 0: label 1.5 is not a "
                   rf"whole number; expected integer class labels")
    if name == "nan":
        b[8][vid][2] = np.full(DIMS["visual"], np.nan, dtype=np.float32)
        return b, (rf"\(videoVisual\): dialogue '{vid}', utterance 2: NaN or "
                   rf"infinite features")
    if name == "inf":
        b[3][vid] = b[3][vid].copy()
        b[3][vid][0, 0] = np.inf
        return b, rf"dialogue '{vid}', utterance 0: NaN or infinite"
    if name == "no utterances":
        other = b[10][1]
        for i in (1, 2, 3, 7, 8):
            b[i][other] = []
        return b, rf"dialogue '{other}' has no utterances"
    if name == "widths":
        other = b[10][1]
        b[7][other] = [np.zeros(DIMS["audio"] + 1)] * len(b[2][other])
        return b, (rf"\(videoAudio\): dialogue '{other}' has width 7 but "
                   rf"dialogue '{vid}' has 6")
    if name == "speaker":
        b[1][vid] = ["X"] + b[1][vid][1:]
        return b, rf"dialogue '{vid}': speaker 'X'; expected 'M' or 'F'"
    if name == "one-hot":
        b = list(make_feature_bundle("meld", num_dialogues=6, dims=DIMS))
        vid = b[10][0]
        b[1][vid] = [[0.0, 1.0]] * len(b[2][vid])
        return b, rf"dialogue '{vid}': expected one-hot speaker vectors of " \
            rf"length 9"
    if name == "split ids":
        b[10] = "Ses01"
        return b, r"trainVid: expected a list of dialogue ids, got str"
    if name == "overlapping splits":
        b[11] = list(b[11]) + [vid]
        return b, rf"dialogue '{vid}' is in both trainVid and testVid"
    if name == "id twice in a split":
        b[10] = list(b[10]) + [vid]
        return b, (rf"trainVid: dialogue '{vid}' is listed twice; expected "
                   rf"each dialogue once")
    if name == "id neither string nor integer":
        b[11] = list(b[11]) + [1.5]
        return b, r"testVid: dialogue id 1.5 is float; expected a string or"
    if name == "key as integer and string":
        b[2] = {**{7: [0]}, **b[2], "7": [0]}
        return b, r"videoLabels: dialogue '7' is a key twice"
    if name == "2-D features":
        b[3][vid] = b[3][vid][:, 0]
        return b, rf"dialogue '{vid}': expected a 2-D \[utterances, width\] " \
            rf"array, got shape \[{n}\]"
    raise KeyError(name)


BUNDLE_CASES = ["not a tuple", "wrong length", "field not a dict",
                "missing dialogue", "feature rows", "labels length",
                "label range", "non-integer label", "nan", "inf",
                "no utterances", "widths", "speaker", "one-hot", "split ids",
                "overlapping splits", "2-D features", "id twice in a split",
                "id neither string nor integer", "key as integer and string"]


@pytest.mark.parametrize("case", BUNDLE_CASES)
def test_bundle_errors(tmp_path, case):
    obj, match = _bundle_case(case)
    path = dump(tmp_path / "bundle.pkl", obj)
    message = raises_data_error(match, read_feature_bundle, path)
    assert message.startswith(str(path))


def test_bundle_unreadable(tmp_path):
    path = tmp_path / "bundle.pkl"
    path.write_bytes(pickle.dumps(make_feature_bundle())[:100])
    raises_data_error(r"bundle.pkl: not a readable pickle", read_feature_bundle,
                      path)
    raises_data_error(r"nothing.pkl: no such file", read_feature_bundle,
                      tmp_path / "nothing.pkl")
    path.write_bytes(pickle.dumps((os.getcwd, ())))  # names posix.getcwd
    raises_data_error(r"refusing to unpickle 'posix.getcwd'",
                      read_feature_bundle, path)


# Dialogue folders -----------------------------------------------------------


def load_meta(folder: Path):
    return pickle.loads((folder / "dialogues.pkl").read_bytes())


def save_meta(folder: Path, meta):
    (folder / "dialogues.pkl").write_bytes(pickle.dumps(meta))


def load_npz(file: Path):
    with np.load(file) as z:
        return {k: z[k] for k in z.files}


def test_dialogue_folder(tmp_path):
    folder = write_dialogue_folder(tmp_path / "tiny", num_dialogues=8,
                                   dims=DIMS)
    records = read_dialogue_folder(folder)
    meta = load_meta(folder)
    speakers, labels, _, train, test, valid = meta
    assert records.name == "tiny" and records.source == str(folder)
    assert records.modality_dims == DIMS
    assert (records.train_ids, records.test_ids, records.valid_ids) == \
        (train, test, valid)
    assert len(valid) == 1
    ids = sorted(speakers)
    first_seen = list(dict.fromkeys(s for v in ids for s in speakers[v]))
    assert records.speaker_vocab == first_seen
    assert records.num_speakers == len(first_seen)
    text = load_npz(folder / "text.npz")
    for vid, dialogue in records.dialogues.items():
        assert dialogue.label.tolist() == labels[vid]
        assert [first_seen[s] for s in dialogue.speaker] == speakers[vid]
        np.testing.assert_array_equal(dialogue.features["text"], text[vid])
    assert records.extractors is None


def test_folder_classes(tmp_path):
    folder = write_dialogue_folder(tmp_path / "f", num_dialogues=6)
    meta = load_meta(folder)
    # Labels spanning exactly 0..5: the IEMOCAP names.
    for i, vid in enumerate(sorted(meta[1])):
        meta[1][vid] = [(i + j) % 6 for j in range(len(meta[1][vid]))]
    save_meta(folder, meta)
    assert read_dialogue_folder(folder).classes == IEMOCAP_CLASSES
    # The range counts, not whether every class occurs.
    for vid in meta[1]:
        meta[1][vid] = [0 if y == 3 else y for y in meta[1][vid]]
    save_meta(folder, meta)
    assert read_dialogue_folder(folder).classes == IEMOCAP_CLASSES
    # Any other range: numbered names.
    for vid in meta[1]:
        meta[1][vid] = [1 + j % 5 for j in range(len(meta[1][vid]))]
    save_meta(folder, meta)
    assert read_dialogue_folder(folder).classes == [f"class_{i}"
                                                    for i in range(6)]
    for vid in meta[1]:
        meta[1][vid] = [j % 3 for j in range(len(meta[1][vid]))]
    save_meta(folder, meta)
    assert read_dialogue_folder(folder).classes == ["class_0", "class_1",
                                                    "class_2"]
    # features.json names them (and the extractors).
    info = {"classes": ["calm", "tense", "glad", "sore"],
            "modalities": {"text": {"model": "fake", "dim": 8}}}
    (folder / "features.json").write_text(json.dumps(info))
    records = read_dialogue_folder(folder)
    assert records.classes == info["classes"]
    assert records.extractors == info["modalities"]


def test_folder_subset_of_modalities_and_names(tmp_path):
    folder = write_dialogue_folder(tmp_path / "f", dims={"text": 5,
                                                         "visual": 3})
    (folder / "text.npz").rename(folder / "text_minilm.npz")
    (folder / "notes.npz").write_bytes(b"ignored: no modality prefix")
    records = read_dialogue_folder(folder)
    assert records.modality_dims == {"text": 5, "visual": 3}


def test_folder_without_valid_ids(tmp_path):
    folder = write_dialogue_folder(tmp_path / "f", valid_ids=False)
    assert read_dialogue_folder(folder).valid_ids is None


def test_folder_speakers_numbered_per_dialogue_beyond_max(tmp_path):
    folder = write_dialogue_folder(tmp_path / "f", num_dialogues=6)
    meta = load_meta(folder)
    ids = sorted(meta[0])
    for i, vid in enumerate(ids):  # 3 names per dialogue, 18 in all
        meta[0][vid] = [f"{vid}-{j % 3}" for j in range(len(meta[0][vid]))]
    meta[0][ids[0]][0] = meta[0][ids[0]][2]  # first appearance, not name
    save_meta(folder, meta)
    records = read_dialogue_folder(folder, max_speakers=9)
    assert records.speaker_vocab is None and records.num_speakers == 3
    assert records.dialogues[ids[0]].speaker[:3].tolist() == [0, 1, 0]
    assert records.dialogues[ids[1]].speaker[:3].tolist() == [0, 1, 2]
    wide = read_dialogue_folder(folder, max_speakers=18)
    assert len(wide.speaker_vocab) == 18 and wide.num_speakers == 18


def _folder_case(folder: Path, name: str):
    """Breaks a tiny folder; returns the error the reader must raise."""
    meta = load_meta(folder)
    vid = meta[3][0]
    n = len(meta[1][vid])
    text = folder / "text.npz"
    feats = load_npz(text)
    if name == "missing folder":
        return folder / "nope", r"nope: no such directory"
    if name == "no metadata":
        (folder / "dialogues.pkl").unlink()
        return folder, r"expected exactly one metadata .pkl file .*found none"
    if name == "two metadata":
        (folder / "extra.pkl").write_bytes(pickle.dumps([]))
        return folder, r"found dialogues.pkl, extra.pkl"
    if name == "metadata is a dict":
        save_meta(folder, dict(enumerate(meta)))
        return folder, (r"dialogues.pkl: expected a list of 6 items \[speakers,"
                        r" labels, sentences, train_ids, test_ids, valid_ids\],"
                        r" got dict")
    if name == "metadata too short":
        save_meta(folder, meta[:5])
        return folder, r"expected a list of 6 items .* got a list of 5 items"
    if name == "speakers not a dict":
        meta[0] = list(meta[0].values())
        save_meta(folder, meta)
        return folder, r"speakers: expected a dict keyed by dialogue id"
    if name == "corrupt metadata":
        (folder / "dialogues.pkl").write_bytes(b"\x80\x04garbage")
        return folder, r"dialogues.pkl: not a readable pickle"
    if name == "unsafe metadata":
        (folder / "dialogues.pkl").write_bytes(pickle.dumps(
            (os.getcwd, ())))
        return folder, r"refusing to unpickle 'posix.getcwd'"
    if name == "no feature files":
        for f in folder.glob("*.npz"):
            f.unlink()
        return folder, r"no feature files; expected at least one of text\*.npz"
    if name == "two text files":
        (folder / "text_other.npz").write_bytes(text.read_bytes())
        return folder, r"several text feature files \(text.npz, text_other.npz\)"
    if name == "corrupt npz":
        text.write_bytes(b"PK\x03\x04 not really a zip")
        return folder, r"text.npz: not a valid .npz archive"
    if name == "random bytes npz":
        text.write_bytes(np.random.default_rng(0).bytes(4000))
        return folder, (r"text.npz: not a valid .npz archive \(it does not "
                        r"start like a zip archive\); expected an .npz")
    if name == "npz is a directory":
        text.unlink()
        text.mkdir()
        return folder, r"text.npz: is a directory, not a regular file"
    if name == "id twice in a split":
        meta[3] = meta[3] + [vid]
        save_meta(folder, meta)
        return folder, (rf"dialogues.pkl: train_ids: dialogue '{vid}' is "
                        rf"listed twice")
    if name == "npy not npz":
        np.save(folder / "audio.npy", feats[vid])
        (folder / "audio.npy").rename(folder / "audio.npz")
        return folder, (r"audio.npz: not a valid .npz archive \(it is a "
                        r"single .npy array\)")
    if name == "object array":
        feats[vid] = np.array([object()] * n, dtype=object)
        np.savez(text, **feats)
        return folder, rf"text.npz: dialogue '{vid}': unreadable array"
    if name == "string array":
        feats[vid] = np.array(["x"] * n)
        np.savez(text, **feats)
        return folder, rf"text.npz: dialogue '{vid}': expected a numeric"
    if name == "dialogue missing from features":
        del feats[vid]
        np.savez(text, **feats)
        return folder, (rf"text.npz: no features for dialogue '{vid}' "
                        rf"\(listed in dialogues.pkl\)")
    if name == "feature rows":
        feats[vid] = feats[vid][1:]
        np.savez(text, **feats)
        return folder, (rf"text.npz: dialogue '{vid}' has {n - 1} feature rows"
                        rf" but {n} utterances")
    if name == "labels length":
        meta[1][vid] = meta[1][vid][:-1]
        save_meta(folder, meta)
        return folder, (rf"dialogues.pkl: dialogue '{vid}' has {n - 1} labels "
                        rf"but {n} speakers")
    if name == "label outside classes":
        meta[1][vid][0] = -1
        save_meta(folder, meta)
        return folder, (rf"dialogues.pkl: dialogue '{vid}', utterance 0: label"
                        rf" -1 is outside the")
    if name == "label outside features.json classes":
        (folder / "features.json").write_text(json.dumps(
            {"classes": ["a", "b"], "modalities": {}}))
        meta[1][vid][0] = 2
        save_meta(folder, meta)
        return folder, (rf"dialogue '{vid}', utterance 0: label 2 is outside "
                        rf"the 2 classes \(expected 0..1\)")
    if name == "nan":
        feats[vid][1, 0] = np.nan
        np.savez(text, **feats)
        return folder, rf"text.npz: dialogue '{vid}', utterance 1: NaN or inf"
    if name == "inf":
        feats[vid][0, 2] = -np.inf
        np.savez(text, **feats)
        return folder, rf"text.npz: dialogue '{vid}', utterance 0: NaN or inf"
    if name == "no utterances":
        meta[0][vid], meta[1][vid] = [], []
        save_meta(folder, meta)
        return folder, rf"dialogue '{vid}' has no utterances"
    if name == "widths":
        ids = sorted(feats)
        feats[ids[1]] = np.zeros((feats[ids[1]].shape[0], 9), np.float32)
        np.savez(text, **feats)
        return folder, (rf"text.npz: dialogue '{ids[1]}' has width 9 but "
                        rf"dialogue '{ids[0]}' has 8")
    if name == "dialogue without speakers":
        del meta[0][vid]
        save_meta(folder, meta)
        return folder, rf"speakers has no entry for dialogue '{vid}'"
    if name == "overlapping splits":
        meta[5] = [vid]
        save_meta(folder, meta)
        return folder, rf"dialogue '{vid}' is in both train_ids and valid_ids"
    if name == "empty test split":
        meta[4] = []
        save_meta(folder, meta)
        return folder, r"expected non-empty train_ids and test_ids"
    if name == "bad features.json":
        (folder / "features.json").write_text("{not json")
        return folder, r"features.json: not readable JSON"
    if name == "bad classes in features.json":
        (folder / "features.json").write_text(json.dumps({"classes": "abc"}))
        return folder, r"features.json: classes: expected a non-empty list"
    raise KeyError(name)


FOLDER_CASES = [
    "missing folder", "no metadata", "two metadata", "metadata is a dict",
    "metadata too short", "speakers not a dict", "corrupt metadata",
    "unsafe metadata", "no feature files", "two text files", "corrupt npz",
    "npy not npz", "object array", "string array",
    "dialogue missing from features", "feature rows", "labels length",
    "label outside classes", "label outside features.json classes", "nan",
    "inf", "no utterances", "widths", "dialogue without speakers",
    "overlapping splits", "empty test split", "bad features.json",
    "bad classes in features.json", "random bytes npz", "npz is a directory",
    "id twice in a split"]


@pytest.mark.parametrize("case", FOLDER_CASES)
def test_folder_errors(tmp_path, case):
    folder = write_dialogue_folder(tmp_path / "data", num_dialogues=6,
                                   dims=DIMS)
    read_dialogue_folder(folder)  # intact, it reads
    target, match = _folder_case(folder, case)
    message = raises_data_error(match, read_dialogue_folder, target)
    assert "pickled" not in message and "does not exist" not in message


def test_features_json_chooses_between_files(tmp_path):
    folder = write_dialogue_folder(tmp_path / "f", dims=DIMS)
    feats = load_npz(folder / "text.npz")
    np.savez(folder / "text_wide.npz",
             **{k: np.hstack([v, v]) for k, v in feats.items()})
    (folder / "features.json").write_text(json.dumps(
        {"classes": None, "modalities": {"text": {"file": "text_wide.npz"}}}))
    assert read_dialogue_folder(folder).modality_dims["text"] == 16


def _integer_ids(folder: Path) -> dict:
    """Rewrites a folder's metadata with integer dialogue ids, as MELD
    publishes them (the .npz keys stay strings); returns id -> integer."""
    meta = load_meta(folder)
    number = {vid: i for i, vid in enumerate(sorted(meta[0]))}
    save_meta(folder, [{number[k]: v for k, v in table.items()}
                       for table in meta[:3]]
              + [[number[v] for v in ids] for ids in meta[3:]])
    for file in folder.glob("*.npz"):
        np.savez(file, **{str(number[k]): v
                          for k, v in load_npz(file).items()})
    return number


def test_integer_dialogue_ids_match_npz_keys(tmp_path):
    folder = write_dialogue_folder(tmp_path / "f", num_dialogues=6,
                                   dims=DIMS)
    before = read_dialogue_folder(folder)
    number = _integer_ids(folder)
    after = read_dialogue_folder(folder)
    assert after.train_ids == [str(number[v]) for v in before.train_ids]
    assert after.test_ids == [str(number[v]) for v in before.test_ids]
    for vid, dialogue in before.dialogues.items():
        mine = after.dialogues[str(number[vid])]
        assert mine.id == str(number[vid])
        np.testing.assert_array_equal(mine.label, dialogue.label)
        np.testing.assert_array_equal(mine.features["text"],
                                      dialogue.features["text"])


def test_integer_dialogue_ids_in_a_bundle(tmp_path):
    b = list(make_feature_bundle("meld", num_dialogues=6, dims=DIMS))
    number = {vid: i for i, vid in enumerate(sorted(b[0]))}
    b[:10] = [{np.int64(number[k]): v for k, v in table.items()}
              for table in b[:10]]
    b[10] = [number[v] for v in b[10]]
    b[11] = {number[v] for v in b[11]}
    records = read_feature_bundle(dump(tmp_path / "meld.pkl", b))
    assert records.train_ids == [str(i) for i in sorted(
        number[v] for v in make_feature_bundle("meld", 6, DIMS)[10])]
    assert all(isinstance(v, str) for v in records.dialogues)
    assert records.test_ids == sorted(records.test_ids)
