"""The AMB-DSGDN model: published parameter counts, ablation options,
batching, positional encoding."""

import pytest
import torch
from torch_geometric.loader import DataLoader

from dsgdn_pyg.models import (AMBDSGDN, ModelConfig, SinusoidalPositionalEncoding,
                              amb_dsgdn_loss, count_parameters,
                              parse_modalities, preset_config)

SMALL = dict(hidden=16, num_heads=2, graph_heads=2)
DIMS = {"text": 12, "audio": 10, "visual": 6}


@pytest.fixture
def dialogue(multimodal_dialogue):
    """``dialogue(length, seed, dims=DIMS)``: a random dialogue with the
    features of :data:`DIMS` (or ``dims``)."""
    return lambda length, seed, dims=DIMS: multimodal_dialogue(length, seed,
                                                               dims)


def small_model(**kw):
    cfg = dict(input_dims=dict(DIMS), num_classes=4, num_speakers=2, **SMALL)
    cfg.update(kw)
    return AMBDSGDN(ModelConfig(**cfg))


def test_published_parameter_counts():
    assert count_parameters(AMBDSGDN.from_preset("iemocap")) == 13_133_234
    assert count_parameters(AMBDSGDN.from_preset("meld")) == 12_481_973


def test_preset_overrides_and_modalities():
    cfg = preset_config("meld", modalities="ta", dropout=0.3)
    assert list(cfg.input_dims) == ["text", "audio"]
    assert cfg.input_dims["audio"] == 300 and cfg.dropout == 0.3
    assert parse_modalities("vt") == ("text", "visual")
    assert parse_modalities("text,audio") == ("text", "audio")
    for bad in ("", "x", "tx"):
        with pytest.raises(ValueError, match="subset of t, a, v"):
            parse_modalities(bad)
    with pytest.raises(ValueError, match="preset"):
        preset_config("cmu")
    with pytest.raises(ValueError, match="--graph-layer"):
        small_model(graph_layer="transformer")


@pytest.mark.parametrize("modalities", ["t", "a", "v", "ta", "av", "tav"])
@pytest.mark.parametrize("graph_layer", ["diff", "gat", "gcn", "none"])
def test_forward_backward_every_ablation(modalities, graph_layer, dialogue):
    dims = {m: DIMS[m] for m in parse_modalities(modalities)}
    model = small_model(input_dims=dims, graph_layer=graph_layer)
    batch = next(iter(DataLoader([dialogue(n, n) for n in (1, 5, 9)],
                                 batch_size=3)))
    model.train()
    out = model(batch, balance=True)
    n = batch["utterance"].num_nodes
    assert out.log_probs.shape == (n, 4)
    assert set(out.modality_log_probs) == set(dims)
    loss = amb_dsgdn_loss(out, batch["utterance"].y)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is None or torch.isfinite(p.grad).all()
               for p in model.parameters())


def test_batch_equals_one_by_one_in_eval_mode(dialogue):
    model = small_model().eval()
    graphs = [dialogue(n, 10 + n) for n in (3, 7, 12)]
    batch = next(iter(DataLoader(graphs, batch_size=3)))
    together = model(batch).log_probs
    alone = torch.cat([model(next(iter(DataLoader([g])))).log_probs
                       for g in graphs])
    assert torch.allclose(together, alone, atol=1e-5)
    # Knowing the longest dialogue up front (no host sync) changes nothing.
    from dsgdn_pyg.training.trainer import to_device
    batch = to_device(batch, torch.device("cpu"))
    assert batch.max_dialogue_length == 12
    assert torch.allclose(model(batch).log_probs, together, atol=1e-6)
    single = model(graphs[1]).log_probs  # an unbatched HeteroData works too
    assert torch.allclose(single, alone[3:10], atol=1e-5)


def test_modality_dropout_only_in_training_after_warm_up(dialogue):
    model = small_model(p_exe=1.0, q_base=0.9)
    batch = next(iter(DataLoader([dialogue(6, s) for s in range(4)],
                                 batch_size=4)))
    model.train()
    assert model(batch, balance=False).drop_prob is None
    assert model(batch, balance=True).drop_prob is not None
    model.eval()
    assert model(batch, balance=True).drop_prob is None
    off = small_model(modality_dropout=False).train()
    assert off.balance is None and off(batch, balance=True).keep is None


def test_missing_modality_in_batch_is_a_clear_error(dialogue):
    model = small_model()
    g = dialogue(4, 0, dims={"text": 12})
    with pytest.raises(ValueError, match="no 'audio' features"):
        model(g)


def test_positional_encoding_is_eq2():
    pe = SinusoidalPositionalEncoding(6)
    pos = torch.tensor([0, 3, 7])
    out = pe(pos)
    for i, p in enumerate(pos.tolist()):
        for j in range(3):
            freq = 10000 ** (-2 * j / 6)
            assert out[i, 2 * j].item() == pytest.approx(
                torch.sin(torch.tensor(p * freq)).item(), abs=1e-6)
            assert out[i, 2 * j + 1].item() == pytest.approx(
                torch.cos(torch.tensor(p * freq)).item(), abs=1e-6)
