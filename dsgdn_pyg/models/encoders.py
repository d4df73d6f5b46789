"""Utterance-level encoders of AMB-DSGDN (the paper's Sec. 4.2, Eq. 1-6)."""

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from torch_geometric.utils import to_dense_batch


def dialogue_positions(batch: Tensor, ptr: Tensor) -> Tensor:
    """Position of every utterance inside its own dialogue, ``[N]``."""
    return torch.arange(batch.numel(), device=batch.device) - ptr[batch]


class SinusoidalPositionalEncoding(torch.nn.Module):
    r"""The sinusoidal encoding of Eq. 2,
    :math:`PE(p, 2j) = \sin(p / 10000^{2j/d})`,
    :math:`PE(p, 2j+1) = \cos(p / 10000^{2j/d})`, computed for any position
    on the fly, so dialogues have no length limit."""

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels
        inv_freq = torch.exp(
            torch.arange(0, channels, 2, dtype=torch.float) *
            (-math.log(10000.0) / channels))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, position: Tensor) -> Tensor:
        angle = position.to(self.inv_freq.dtype).unsqueeze(-1) * self.inv_freq
        out = torch.stack([angle.sin(), angle.cos()], dim=-1).flatten(-2)
        return out[..., :self.channels]


class TransformerLayer(torch.nn.Module):
    r"""One encoder layer: multi-head self-attention within each dialogue,
    with a residual, then :math:`\mathrm{FFN}(x) = W_2\,\mathrm{Dropout}(
    \mathrm{GELU}(W_1 \mathrm{LN}(x))) + x` (Sec. 4.2).

    It runs on the batch's utterances as they are packed, ``[N, d]``: only
    the attention itself pads them to ``[B, L_max]`` (masked), so the
    projections, the feed-forward part, the norms and the dropout masks
    cost nothing for padding (IEMOCAP batches of 16 pad to about 1.6x their
    utterances; one layer's forward+backward is 1.5x faster this way on
    CPU). The parameters are held in :class:`torch.nn.MultiheadAttention`,
    the published layout, whose computation this is.

    :obj:`input_norm` normalises the input of every layer but the first of a
    stack, as the published encoder does; AMB-DSGDN uses one layer, so it is
    held (and counted in the published parameter total) but not applied.
    """

    def __init__(self, channels: int, num_heads: int = 8,
                 ff_channels: Optional[int] = None, dropout: float = 0.0,
                 first: bool = True):
        super().__init__()
        ff_channels = ff_channels or channels
        self.first = first
        self.dropout = dropout
        self.input_norm = torch.nn.LayerNorm(channels, eps=1e-6)
        self.attn = torch.nn.MultiheadAttention(channels, num_heads,
                                                dropout=dropout,
                                                batch_first=True)
        self.ff_norm = torch.nn.LayerNorm(channels, eps=1e-6)
        self.ff_in = torch.nn.Linear(channels, ff_channels)
        self.ff_out = torch.nn.Linear(ff_channels, channels)

    def forward(self, x: Tensor, batch: Tensor, position: Tensor,
                batch_size: int, max_length: Optional[int] = None) -> Tensor:
        """:obj:`x` is ``[N, d]``, the utterances of :obj:`batch_size`
        dialogues in order; :obj:`batch` and :obj:`position` give each one's
        dialogue and place in it; :obj:`max_length`, the longest dialogue,
        spares a host-device sync when known."""
        if not self.first:
            x = self.input_norm(x)
        x = x + F.dropout(self._attention(x, batch, position, batch_size,
                                          max_length),
                          self.dropout, self.training)
        h = F.gelu(self.ff_in(self.ff_norm(x)))
        h = self.ff_out(F.dropout(h, self.dropout, self.training))
        return x + F.dropout(h, self.dropout, self.training)

    def _attention(self, x: Tensor, batch: Tensor, position: Tensor,
                   batch_size: int, max_length: Optional[int]) -> Tensor:
        attn = self.attn
        heads, d = attn.num_heads, x.size(-1)
        qkv = F.linear(x, attn.in_proj_weight, attn.in_proj_bias)
        dense, mask = to_dense_batch(qkv, batch, batch_size=batch_size,
                                     max_num_nodes=max_length)
        B, L = mask.shape
        q, k, v = dense.view(B, L, 3, heads, d // heads).permute(2, 0, 3, 1,
                                                                 4)
        context = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask[:, None, None, :],
            dropout_p=attn.dropout if self.training else 0.0)
        context = context.transpose(1, 2).reshape(B, L, d)[batch, position]
        return attn.out_proj(context)


class ContextEncoder(torch.nn.Module):
    r"""The audio/visual encoder:
    :math:`x = \mathrm{Linear}(f) + PE(i) + E_s(s_i)`, dropout, then a
    Transformer over each dialogue (masked to it).

    The speaker embedding is passed in so that modalities can share it, as
    the published model does.
    """

    def __init__(self, in_channels: int, channels: int,
                 speaker_embedding: torch.nn.Embedding, num_heads: int = 8,
                 num_layers: int = 1, dropout: float = 0.0):
        super().__init__()
        self.lin = torch.nn.Linear(in_channels, channels)
        self.position = SinusoidalPositionalEncoding(channels)
        self.speaker_embedding = speaker_embedding
        self.dropout = dropout
        self.layers = torch.nn.ModuleList([
            TransformerLayer(channels, num_heads, channels, dropout,
                             first=i == 0) for i in range(num_layers)
        ])

    def forward(self, x: Tensor, speaker: Tensor, batch: Tensor, ptr: Tensor,
                max_length: Optional[int] = None) -> Tensor:
        """:obj:`max_length`, the longest dialogue of the batch, spares a
        host-device sync when the caller knows it."""
        position = dialogue_positions(batch, ptr)
        h = self.lin(x) + self.position(position) + self.speaker_embedding(
            speaker)
        h = F.dropout(h, self.dropout, self.training)
        for layer in self.layers:
            h = layer(h, batch, position, ptr.numel() - 1, max_length)
        return h
