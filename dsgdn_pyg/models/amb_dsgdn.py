"""The AMB-DSGDN model (the paper's Sec. 4.2-4.7): encoders, DiffRGCN blocks
over the inter and intra subgraphs, gates, adaptive modality balancing and
classifiers."""

import random
from dataclasses import dataclass
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from torch_geometric.data import HeteroData
from torch_geometric.nn import GATConv, GCNConv

from dsgdn_pyg.data.dialogue_graph import INTER, INTRA, NODE_TYPE
from dsgdn_pyg.models.config import (  # noqa: F401 (re-exported)
    GRAPH_LAYERS, MODALITIES, MODALITY_CODES, PRESETS, ModelConfig,
    parse_fusion_weights, parse_modalities, preset_config)
from dsgdn_pyg.models.encoders import ContextEncoder
from dsgdn_pyg.models.modality_balance import AdaptiveModalityDropout
from dsgdn_pyg.nn import DiffRGCN


@dataclass
class ModelOutput:
    """What :meth:`AMBDSGDN.forward` returns."""
    log_probs: Tensor  # [N, C] fused log-softmax
    modality_log_probs: Dict[str, Tensor]  # [N, C] each
    keep: Optional[Tensor] = None  # [N] bool after modality dropout
    drop_prob: Optional[Tensor] = None  # [M] q_m of this batch


class GraphBlock(torch.nn.Module):
    """A plain graph layer (GAT or GCN) in the DiffRGCN block's place, for the
    ablations: conv, GELU, dropout, residual, LayerNorm."""

    def __init__(self, kind: str, channels: int, heads: int, dropout: float):
        super().__init__()
        if kind == "gat":
            self.conv = GATConv(channels, channels, heads=heads,
                                concat=False, dropout=dropout)
        else:
            self.conv = GCNConv(channels, channels)
        self.dropout = dropout
        self.norm = torch.nn.LayerNorm(channels)

    def forward(self, x: Tensor, edge_index: Tensor, edge_type: Tensor,
                batch: Tensor) -> Tensor:
        h = F.gelu(self.conv(x, edge_index))
        return self.norm(x + F.dropout(h, self.dropout, self.training))


class _SparseBlock(torch.nn.Module):
    """Adapts :class:`DiffRGCN` to the block call of the model."""

    def __init__(self, channels: int, heads: int, dropout: float):
        super().__init__()
        self.block = DiffRGCN(channels, heads=heads, dropout=dropout)

    def forward(self, x, edge_index, edge_type, batch):
        return self.block(x, edge_index, edge_type)


class _DenseBlock(torch.nn.Module):
    """The dense-adjacency DiffRGCN (benchmark baseline), same call."""

    def __init__(self, channels: int, heads: int, dropout: float):
        super().__init__()
        from dsgdn_pyg.nn.dense_diff_gat import DenseDiffRGCN
        self.block = DenseDiffRGCN(channels, heads=heads, dropout=dropout)

    def forward(self, x, edge_index, edge_type, batch):
        return self.block.forward_sparse(x, edge_index, edge_type, batch)


class _NoGraph(torch.nn.Module):
    """The "w/o graph" ablation: node features pass through unchanged."""

    def forward(self, x, edge_index, edge_type, batch):
        return x


def _make_block(kind: str, channels: int, heads: int,
                dropout: float) -> torch.nn.Module:
    if kind == "diff":
        return _SparseBlock(channels, heads, dropout)
    if kind == "dense":
        return _DenseBlock(channels, heads, dropout)
    if kind in ("gat", "gcn"):
        return GraphBlock(kind, channels, heads, dropout)
    return _NoGraph()


class AMBDSGDN(torch.nn.Module):
    r"""AMB-DSGDN from the `"Adaptive Modality-Balanced Dynamic Semantic
    Graph Differential Network" <https://arxiv.org/abs/2603.10043>`_ paper,
    on batches of dialogue graphs built by
    :func:`~dsgdn_pyg.data.build_dialogue_graph`.

    Per modality: encoder (text: linear; audio/visual: linear, positional
    and speaker embeddings, one Transformer layer), a graph block on the
    inter-speaker subgraph then one on the intra-speaker subgraph, a gate for
    audio and visual; during training after warm-up, adaptive modality
    dropout; then one classifier per modality whose logits are summed.

    Args:
        config (ModelConfig): The architecture.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        d = config.hidden
        self.modalities = config.modalities
        context = [m for m in self.modalities if m != "text"]
        self.speaker_embedding = (torch.nn.Embedding(config.num_speakers + 1,
                                                     d)
                                  if context else None)
        self.encoders = torch.nn.ModuleDict()
        self.inter_blocks = torch.nn.ModuleDict()
        self.intra_blocks = torch.nn.ModuleDict()
        self.gates = torch.nn.ModuleDict()
        self.classifiers = torch.nn.ModuleDict()
        for m in self.modalities:
            in_dim = config.input_dims[m]
            if m == "text":
                self.encoders[m] = torch.nn.Linear(in_dim, d)
            else:
                self.encoders[m] = ContextEncoder(in_dim, d,
                                                  self.speaker_embedding,
                                                  config.num_heads,
                                                  dropout=config.dropout)
                self.gates[m] = torch.nn.Linear(d, d)
            self.inter_blocks[m] = _make_block(config.graph_layer, d,
                                               config.graph_heads,
                                               config.graph_dropout)
            self.intra_blocks[m] = _make_block(config.graph_layer, d,
                                               config.graph_heads,
                                               config.graph_dropout)
            self.classifiers[m] = torch.nn.Linear(d, config.num_classes)
        self.balance = (AdaptiveModalityDropout(config.q_base,
                                                config.q_lambda, config.p_exe)
                        if config.modality_dropout else None)

    @classmethod
    def from_preset(cls, name: str, **overrides) -> "AMBDSGDN":
        """The published configuration of :obj:`"iemocap"` or :obj:`"meld"`,
        with any :class:`ModelConfig` field overridden. :obj:`modalities`
        (e.g. ``"ta"``) keeps a subset of the preset's input widths."""
        return cls(preset_config(name, **overrides))

    def encode(self, data: HeteroData) -> Dict[str, Tensor]:
        """Per-modality node representations after the graph blocks and
        gates, ``{modality: [N, d_h]}``."""
        store = data[NODE_TYPE]
        batch, ptr = _batch_vectors(store)
        inter, intra = data[INTER], data[INTRA]
        max_length = getattr(data, "max_dialogue_length", None)
        out = {}
        for m in self.modalities:
            if m not in store:
                raise ValueError(
                    f"AMBDSGDN: the batch has no '{m}' features on node "
                    f"type '{NODE_TYPE}' (the model was built for "
                    f"{', '.join(self.modalities)})")
            x = store[m]
            if m == "text":
                h = self.encoders[m](x)
            else:
                h = self.encoders[m](x, store.speaker, batch, ptr,
                                     max_length)
            h = self.inter_blocks[m](h, inter.edge_index, inter.edge_type,
                                     batch)
            h = self.intra_blocks[m](h, intra.edge_index, intra.edge_type,
                                     batch)
            if m in self.gates:
                h = h * torch.sigmoid(self.gates[m](h))
            out[m] = h
        return out

    def classify(self, m: str, h: Tensor) -> Tensor:
        """Eq. 28: ReLU, dropout, linear."""
        h = F.dropout(F.relu(h), self.config.dropout, self.training)
        return self.classifiers[m](h)

    def forward(self, data: HeteroData, balance: bool = False,
                generator: Optional[random.Random] = None) -> ModelOutput:
        r"""Runs the model on a batch of dialogue graphs.

        Args:
            data: A (batched) :class:`~torch_geometric.data.HeteroData`.
            balance: Apply adaptive modality dropout (training only, after
                the warm-up epochs; needs the labels :obj:`y`).
            generator: Source of the per-batch "apply or not" draw.
        """
        feats = self.encode(data)
        keep = drop_prob = None
        if balance and self.training and self.balance is not None \
                and len(self.modalities) > 1:
            store = data[NODE_TYPE]
            batch, ptr = _batch_vectors(store)
            with torch.no_grad():
                logits = [self.classify(m, h) for m, h in feats.items()]
            result = self.balance(feats, logits, store.y, batch,
                                  ptr.numel() - 1, self.config.num_classes,
                                  generator=generator)
            feats, drop_prob = result.features, result.drop_prob
            keep = result.keep if result.applied else None
        modality_logits = {m: self.classify(m, h) for m, h in feats.items()}
        weights = self.config.fusion_weights
        fused = torch.stack([lg if weights is None else weights[m] * lg
                             for m, lg in modality_logits.items()]).sum(0)
        return ModelOutput(
            log_probs=F.log_softmax(fused, dim=-1),
            modality_log_probs={m: F.log_softmax(lg, dim=-1)
                                for m, lg in modality_logits.items()},
            keep=keep, drop_prob=drop_prob)


def _batch_vectors(store):
    """``batch`` and ``ptr`` of a node store, also for a single graph."""
    batch = getattr(store, "batch", None)
    if batch is None:
        n = store.num_nodes
        device = store.speaker.device
        return (torch.zeros(n, dtype=torch.long, device=device),
                torch.tensor([0, n], device=device))
    return batch, store.ptr


def amb_dsgdn_loss(output: ModelOutput, target: Tensor,
                   class_weight: Optional[Tensor] = None) -> Tensor:
    r"""The loss of Eq. 28-33: :math:`L = NLL(P) + \sum_m L_m \cdot (L_m /
    10)` over two or more modalities (with one, the fused NLL alone), each NLL
    class-weighted as :math:`\sum w_{y} nll / \sum w_{y}` over the utterances
    still in the batch (the gradient flows through the factor
    :math:`L_m / 10` too, as published)."""
    weight = (torch.ones_like(target, dtype=output.log_probs.dtype)
              if class_weight is None else class_weight[target].to(
                  output.log_probs.dtype))
    if output.keep is not None:
        weight = weight * output.keep.to(weight.dtype)
    norm = weight.sum().clamp(min=1e-12)

    def nll(log_probs: Tensor) -> Tensor:
        picked = log_probs.gather(1, target.unsqueeze(1)).squeeze(1)
        return -(weight * picked).sum() / norm

    loss = nll(output.log_probs)
    if len(output.modality_log_probs) < 2:
        # One modality: its logits are the fused ones, and the published
        # single-modality path trains on the fused NLL alone.
        return loss
    for log_probs in output.modality_log_probs.values():
        aux = nll(log_probs)
        loss = loss + aux * (aux / 10.0)
    return loss


def count_parameters(module: torch.nn.Module) -> int:
    """Number of parameters (a shared one, like the speaker embedding,
    counted once)."""
    return sum(p.numel() for p in module.parameters())
