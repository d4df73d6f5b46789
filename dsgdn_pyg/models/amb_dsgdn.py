"""The AMB-DSGDN model (the paper's Sec. 4.2-4.7): encoders, DiffRGCN blocks
over the inter and intra subgraphs, gates, adaptive modality balancing and
classifiers."""

import math
import random
from dataclasses import asdict, dataclass, field
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from torch_geometric.data import HeteroData
from torch_geometric.nn import GATConv, GCNConv

from dsgdn_pyg.data.dialogue_graph import INTER, INTRA, NODE_TYPE
from dsgdn_pyg.errors import check_number
from dsgdn_pyg.models.encoders import ContextEncoder
from dsgdn_pyg.models.modality_balance import AdaptiveModalityDropout
from dsgdn_pyg.nn import DiffRGCN

MODALITIES = ("text", "audio", "visual")
MODALITY_CODES = {"t": "text", "a": "audio", "v": "visual"}
GRAPH_LAYERS = ("diff", "gat", "gcn", "none", "dense")


def parse_modalities(spec) -> tuple:
    """``"tav"``, ``"t,a"`` or ``["text", "audio"]`` -> canonical ordered
    tuple of modality names."""
    if isinstance(spec, str):
        if "," in spec:
            items = spec.split(",")
        else:
            items = list(spec) if set(spec) <= set("tav") else [spec]
    else:
        items = list(spec)
    names = set()
    for item in items:
        item = item.strip()
        name = MODALITY_CODES.get(item, item)
        if name not in MODALITIES:
            raise ValueError(
                f"modalities: expected a non-empty subset of t, a, v "
                f"(text, audio, visual), got {spec!r}")
        names.add(name)
    if not names:
        raise ValueError("modalities: expected a non-empty subset of t, a, v "
                         f"(text, audio, visual), got {spec!r}")
    return tuple(m for m in MODALITIES if m in names)


def parse_fusion_weights(spec: Optional[str]) -> Optional[Dict[str, float]]:
    """``"t=0.8,v=0.1,a=0.1"`` -> ``{"text": 0.8, "visual": 0.1, "audio":
    0.1}`` (fixed fusion weights, the paper's Sec. 6.7); ``None`` or ``""``
    -> ``None`` (the published plain sum of the modality logits)."""
    if not spec:
        return None
    weights = {}
    for item in str(spec).split(","):
        key, sep, value = item.partition("=")
        name = MODALITY_CODES.get(key.strip(), key.strip())
        try:
            weight = float(value)
        except ValueError:
            weight = None
        if not sep or name not in MODALITIES or weight is None \
                or name in weights:
            raise ValueError(f"fusion_weights: expected MODALITY=WEIGHT pairs "
                             f"such as t=0.8,v=0.1,a=0.1, got {spec!r}")
        if not math.isfinite(weight):
            raise ValueError(f"fusion_weights: the {name} weight is "
                             f"{weight}; expected finite weights >= 0, got "
                             f"{spec!r}")
        weights[name] = weight
    return weights


@dataclass
class ModelConfig:
    """Architecture of :class:`AMBDSGDN`; everything needed to rebuild it."""
    input_dims: Dict[str, int] = field(default_factory=lambda: {
        "text": 1024, "audio": 1582, "visual": 342})
    num_classes: int = 6
    num_speakers: int = 2
    hidden: int = 512
    num_heads: int = 8  # Transformer heads (audio/visual encoders)
    graph_heads: int = 2  # DiffRGCN heads
    dropout: float = 0.5
    graph_dropout: float = 0.2
    graph_layer: str = "diff"
    modality_dropout: bool = True
    q_base: float = 0.3
    q_lambda: float = 0.9
    p_exe: float = 0.5
    # Fixed weight of each modality's logits in the fusion (Sec. 6.7); None:
    # the published plain sum.
    fusion_weights: Optional[Dict[str, float]] = None

    def __post_init__(self):
        if self.graph_layer not in GRAPH_LAYERS:
            raise ValueError(f"graph_layer: expected one of {GRAPH_LAYERS}, "
                             f"got {self.graph_layer!r}")
        if not self.input_dims:
            raise ValueError("input_dims: expected at least one modality")
        parse_modalities(list(self.input_dims))
        _check_model_ranges(self)
        if self.hidden % 2 or self.hidden % self.num_heads:
            raise ValueError(
                f"hidden: expected an even width divisible by num_heads "
                f"({self.num_heads}), got {self.hidden}")
        if self.fusion_weights is not None:
            given = set(self.fusion_weights)
            if given != set(self.modalities) or any(
                    w < 0 for w in self.fusion_weights.values()):
                raise ValueError(
                    f"fusion_weights: expected one non-negative weight per "
                    f"modality of the model ({', '.join(self.modalities)}), "
                    f"got {self.fusion_weights}")

    @property
    def modalities(self) -> tuple:
        return parse_modalities(list(self.input_dims))

    def to_dict(self) -> dict:
        return asdict(self)


def _check_model_ranges(config: ModelConfig) -> None:
    """Sizes at least 1, dropouts in [0, 1), the balancing probabilities of
    Sec. 4.6 in [0, 1]; each message names the ``dsgdn train`` option."""
    for option, value in (("--hidden", config.hidden),
                          ("--num-heads", config.num_heads),
                          ("--heads", config.graph_heads),
                          ("num_classes", config.num_classes),
                          ("num_speakers", config.num_speakers)):
        check_number(option, value, 1, integer=True)
    for option, value in (("--dropout", config.dropout),
                          ("--graph-dropout", config.graph_dropout)):
        check_number(option, value, 0, 1, high_open=True)
    for option, value in (("--q-base", config.q_base),
                          ("--p-exe", config.p_exe)):
        check_number(option, value, 0, 1)
    check_number("--q-lambda", config.q_lambda, 0)


PRESETS: Dict[str, ModelConfig] = {
    "iemocap": ModelConfig(
        input_dims={"text": 1024, "audio": 1582, "visual": 342},
        num_classes=6, num_speakers=2, dropout=0.5, q_base=0.3,
        q_lambda=0.9, p_exe=0.5),
    "meld": ModelConfig(
        input_dims={"text": 1024, "audio": 300, "visual": 342},
        num_classes=7, num_speakers=9, dropout=0.11, q_base=0.2,
        q_lambda=0.9, p_exe=0.2),
}


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


def preset_config(name: str, **overrides) -> ModelConfig:
    """A copy of a preset's :class:`ModelConfig` with overrides applied."""
    if name not in PRESETS:
        raise ValueError(f"preset: expected one of {sorted(PRESETS)}, got "
                         f"{name!r}")
    values = PRESETS[name].to_dict()
    modalities = overrides.pop("modalities", None)
    values.update({k: v for k, v in overrides.items() if v is not None})
    if modalities is not None:
        values["input_dims"] = {
            m: values["input_dims"][m] for m in parse_modalities(modalities)
        }
    return ModelConfig(**values)


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
