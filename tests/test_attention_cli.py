"""`dsgdn attention`, and the options the experiments added to `dsgdn
train` / `dsgdn evaluate`: fixed fusion weights, test-time noise, the
dialogue-length filter."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from dsgdn_pyg.cli import app
from dsgdn_pyg.data.dialogue_graph import NODE_TYPE
from dsgdn_pyg.experiments.attention import dialogue_attention
from dsgdn_pyg.models import AMBDSGDN, ModelConfig, parse_fusion_weights
from dsgdn_pyg.training import load_model, load_run_corpus
from dsgdn_pyg.training.session import TrainRequest, run_training

runner = CliRunner()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("att") / "run"
    run_training(TrainRequest(
        seeds=[1], out=out, synthetic=dict(num_dialogues=12),
        model_overrides=dict(hidden=32, num_heads=2),
        train_overrides=dict(epochs=1, batch_size=8)), log=lambda m: None)
    return out


def _one_line_error(result):
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    return lines[0]


def test_attention_maps_are_normalised_branches(run):
    _, config = load_model(run)
    dialogue = load_run_corpus(config).test[0]
    maps = dialogue_attention(run, dialogue.dialogue_id)
    n = dialogue[NODE_TYPE].num_nodes
    assert len(maps["utterances"]) == n
    assert [(b["modality"], b["block"]) for b in maps["blocks"]][:2] == [
        ("text", "inter"), ("text", "intra")]
    for block in maps["blocks"]:
        pos, neg, diff = (block[k] for k in ("positive", "negative",
                                             "differential"))
        assert pos.shape == (n, n)
        attended = pos.sum(1) > 0
        # Each branch is a softmax over a target's incoming edges, and the
        # differential weights sum to 1 - lambda per head.
        assert np.allclose(pos.sum(1)[attended], 1, atol=1e-5)
        assert np.allclose(neg.sum(1)[attended], 1, atol=1e-5)
        assert np.allclose(diff.sum(1)[attended],
                           np.mean([1 - lam for lam in block["lam"]]),
                           atol=1e-5)
        assert np.all(diff[pos == 0] == 0)


@pytest.mark.parametrize("name, magic", [("att.png", b"\x89PNG\r\n\x1a\n"),
                                         ("att.PDF", b"%PDF-"),
                                         ("att.svg", b"<?xml")])
def test_attention_cli_writes_the_suffix_format(run, tmp_path, name, magic):
    _, config = load_model(run)
    dialogue_id = load_run_corpus(config).test[0].dialogue_id
    out = tmp_path / name
    result = runner.invoke(app, ["attention", str(run), str(dialogue_id),
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(magic)


@pytest.mark.parametrize("name", ["keep.jsonl", "figure"])
def test_attention_refuses_a_file_that_is_no_figure(run, tmp_path, name):
    # It wrote PNG bytes into any --out, e.g. over a manifest.
    out = tmp_path / name
    out.write_text("keep")
    line = _one_line_error(runner.invoke(app, [
        "attention", str(run), "any", "--out", str(out)]))
    assert "--out" in line and ".png, .pdf, .svg" in line, line
    assert out.read_text() == "keep"


def test_attention_bad_dialogue_id(run, tmp_path):
    out = tmp_path / "att.png"
    line = _one_line_error(runner.invoke(app, [
        "attention", str(run), "no-such-dialogue", "--out", str(out)]))
    assert "DIALOGUE_ID" in line and not out.exists()


def test_fusion_weights_scale_each_modalitys_logits():
    torch.manual_seed(0)
    weights = parse_fusion_weights("t=0.8,v=0.1,a=0.1")
    assert weights == {"text": 0.8, "visual": 0.1, "audio": 0.1}
    config = ModelConfig(input_dims={"text": 8, "audio": 6, "visual": 4},
                         hidden=16, num_heads=2, fusion_weights=weights)
    model = AMBDSGDN(config).eval()
    from dsgdn_pyg.data.synthetic import SyntheticConfig
    from dsgdn_pyg.data.corpus import load_corpus
    corpus = load_corpus(None, synthetic_config=SyntheticConfig(
        num_dialogues=4, dims={"text": 8, "audio": 6, "visual": 4}))
    graph = corpus.train[0]
    out = model(graph)
    logits = {m: model.classify(m, h) for m, h in model.encode(graph).items()}
    fused = sum(weights[m] * lg for m, lg in logits.items())
    assert torch.allclose(out.log_probs, torch.log_softmax(fused, -1),
                          atol=1e-6)


@pytest.mark.parametrize("spec", ["t=0.8,x=0.1", "t0.8", "t=a", "t=1,t=2"])
def test_bad_fusion_weights(spec, tmp_path):
    line = _one_line_error(runner.invoke(app, [
        "train", "--fusion-weights", spec, "--out", str(tmp_path / "r")]))
    assert "--fusion-weights" in line and not (tmp_path / "r").exists()


def test_fusion_weights_need_every_modality_of_the_model():
    with pytest.raises(ValueError, match="--fusion-weights"):
        ModelConfig(input_dims={"text": 8}, hidden=16, num_heads=2,
                    fusion_weights={"text": 0.8, "audio": 0.2})


def test_evaluate_noise_is_seeded_and_zero_noise_is_the_plain_metric(run):
    report = json.loads((run / "report.json").read_text())

    def f1(*args):
        result = runner.invoke(app, ["evaluate", str(run), *args])
        assert result.exit_code == 0, result.output
        from dsgdn_pyg.training.runs import evaluate_run
        return result, evaluate_run(run, noise=float(args[1]) if args else 0,
                                    noise_seed=int(args[3]) if args else 0)
    _, (plain, _) = f1()
    assert plain.weighted_f1 == pytest.approx(report["test"]["weighted_f1"])
    _, (noisy_a, _) = f1("--noise", "5.0", "--noise-seed", "1")
    _, (noisy_b, _) = f1("--noise", "5.0", "--noise-seed", "1")
    assert noisy_a.confusion == noisy_b.confusion
    assert noisy_a.confusion != plain.confusion


def test_evaluate_length_filter(run):
    from dsgdn_pyg.training.runs import evaluate_run
    _, config = load_model(run)
    lengths = [g[NODE_TYPE].num_nodes for g in load_run_corpus(config).test]
    low, high = sorted(lengths)[0], sorted(lengths)[len(lengths) // 2]
    metrics, _ = evaluate_run(run, min_length=low, max_length=high)
    assert metrics.num_utterances == sum(n for n in lengths
                                         if low <= n <= high)
    result = runner.invoke(app, ["evaluate", str(run), "--min-length",
                                 str(max(lengths) + 1)])
    assert "--min-length" in _one_line_error(result)
