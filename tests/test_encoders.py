"""The encoders on packed utterances against the padded formulation of the
published code (nn.MultiheadAttention over [B, L_max] with a key padding
mask), and the positional encoding."""

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.utils import to_dense_batch

from dsgdn_pyg.models import ContextEncoder, TransformerLayer
from dsgdn_pyg.models.encoders import (SinusoidalPositionalEncoding,
                                       dialogue_positions)


def ragged_batch(lengths, channels, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(lengths)
    batch = torch.repeat_interleave(torch.arange(len(lengths)), lengths)
    ptr = torch.cat([torch.zeros(1, dtype=torch.long), lengths.cumsum(0)])
    x = torch.randn(int(lengths.sum()), channels, generator=g,
                    dtype=torch.float64)
    return x, batch, ptr


def padded_reference(layer: TransformerLayer, x, batch, ptr):
    """The layer as the published encoder computes it: pad, masked
    nn.MultiheadAttention, residual, feed-forward on the padded rows."""
    dense, mask = to_dense_batch(x, batch)
    if not layer.first:
        dense = layer.input_norm(dense)
    context, _ = layer.attn(dense, dense, dense, key_padding_mask=~mask,
                            need_weights=False)
    dense = dense + context
    h = layer.ff_out(F.gelu(layer.ff_in(layer.ff_norm(dense))))
    return (dense + h)[mask]


@pytest.mark.parametrize("first", [True, False])
def test_packed_layer_matches_padded_multihead_attention(first):
    torch.manual_seed(0)
    layer = TransformerLayer(16, num_heads=4, dropout=0.3,
                             first=first).double().eval()
    with torch.no_grad():  # every parameter influences the output
        for p in layer.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x, batch, ptr = ragged_batch([5, 1, 9, 3], 16)
    x.requires_grad_()
    position = dialogue_positions(batch, ptr)
    out = layer(x, batch, position, 4)
    ref = padded_reference(layer, x, batch, ptr)
    assert (out - ref).abs().max() < 1e-12
    g = torch.randn_like(out)
    params = [x] + list(layer.parameters())
    grads = torch.autograd.grad(out, params, g, allow_unused=True)
    grads_ref = torch.autograd.grad(ref, params, g, allow_unused=True)
    for a, b in zip(grads, grads_ref):
        if a is None or b is None:  # input_norm of a first layer
            assert a is None and b is None and first
            continue
        assert (a - b).abs().max() < 1e-10
    # The longest dialogue passed in gives the same result.
    assert torch.equal(layer(x, batch, position, 4, max_length=9), out)


def test_attention_stays_within_each_dialogue():
    torch.manual_seed(1)
    encoder = ContextEncoder(6, 16, torch.nn.Embedding(3, 16),
                             num_heads=4).eval()
    x, batch, ptr = ragged_batch([4, 7, 2], 6, seed=2)
    x = x.float()
    speaker = torch.randint(0, 2, (x.size(0), ))
    out = encoder(x, speaker, batch, ptr)
    # Change the middle dialogue: the others do not move.
    x2 = x.clone()
    x2[4:11] += 1.0
    out2 = encoder(x2, speaker, batch, ptr)
    keep = torch.ones(x.size(0), dtype=torch.bool)
    keep[4:11] = False
    assert torch.allclose(out[keep], out2[keep], atol=1e-6)
    assert not torch.allclose(out[~keep], out2[~keep], atol=1e-3)
    # A dialogue alone gives what it gives inside the batch.
    alone = encoder(x[4:11], speaker[4:11], torch.zeros(7, dtype=torch.long),
                    torch.tensor([0, 7]))
    assert torch.allclose(alone, out[4:11], atol=1e-5)


def test_sinusoidal_encoding_values():
    pe = SinusoidalPositionalEncoding(6)
    out = pe(torch.tensor([0, 3]))
    assert torch.allclose(out[0], torch.tensor([0., 1., 0., 1., 0., 1.]))
    for j in range(3):
        angle = torch.tensor(3.0) / 10000 ** (2 * j / 6)
        assert torch.isclose(out[1, 2 * j], angle.sin(), atol=1e-6)
        assert torch.isclose(out[1, 2 * j + 1], angle.cos(), atol=1e-6)


def test_attention_dropout_is_that_of_multihead_attention():
    """In training, the attention-weight dropout draws the same masks as
    nn.MultiheadAttention on the padded batch (same seed, same output); only
    the residual and feed-forward masks, drawn over packed rows instead of
    padded ones, differ from the published code's draws."""
    torch.manual_seed(0)
    layer = TransformerLayer(16, num_heads=4, dropout=0.5).train()
    layer.dropout = 0.0  # residual and feed-forward dropout off
    x, batch, ptr = ragged_batch([5, 1, 9, 3], 16)
    x = x.float()
    position = dialogue_positions(batch, ptr)
    torch.manual_seed(7)
    out = layer(x, batch, position, 4)
    torch.manual_seed(7)
    ref = padded_reference(layer, x, batch, ptr)
    assert torch.allclose(out, ref, atol=1e-6)
    torch.manual_seed(8)
    assert not torch.allclose(layer(x, batch, position, 4), out)
