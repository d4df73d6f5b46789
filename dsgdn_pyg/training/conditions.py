"""Test-time conditions of an evaluation: Gaussian feature noise (the
paper's Sec. 6.5, Fig. 7) and a dialogue-length filter (Sec. 6.3, Fig. 6).

Both act on copies of a split's dialogue graphs; the model and the training
are untouched.
"""

from typing import Dict, List, Optional, Sequence

import torch
from torch_geometric.data import HeteroData

from dsgdn_pyg.data.dialogue_graph import NODE_TYPE
from dsgdn_pyg.training.evaluation_options import (  # noqa: F401
    check_conditions)


def feature_std(graphs: Sequence[HeteroData],
                modalities: Sequence[str]) -> Dict[str, torch.Tensor]:
    """The standard deviation of every feature (``[D]`` per modality) over
    the utterances of :obj:`graphs` (the training split: the scale the model
    was fitted to)."""
    return {m: torch.cat([g[NODE_TYPE][m] for g in graphs]).std(0)
            for m in modalities}


def add_feature_noise(graphs: Sequence[HeteroData],
                      std: Dict[str, torch.Tensor], fraction: float,
                      seed: int = 0) -> List[HeteroData]:
    """Copies of :obj:`graphs` with Gaussian noise of standard deviation
    ``fraction x std`` added to each feature of every modality in
    :obj:`std`, drawn from a generator seeded with :obj:`seed` (in graph
    order, so the same seed gives the same noise)."""
    check_conditions(noise=fraction)
    if fraction == 0:
        return list(graphs)
    generator = torch.Generator().manual_seed(seed)
    noisy = []
    for graph in graphs:
        graph = graph.clone()
        store = graph[NODE_TYPE]
        for m, scale in std.items():
            x = store[m]
            noise = torch.randn(x.shape, generator=generator, dtype=x.dtype)
            store[m] = x + noise * (fraction * scale.to(x.dtype))
        noisy.append(graph)
    return noisy


def filter_lengths(graphs: Sequence[HeteroData],
                   min_length: Optional[int] = None,
                   max_length: Optional[int] = None) -> List[HeteroData]:
    """The dialogues with ``min_length <= utterances <= max_length``
    (either bound optional); an error when none is left."""
    check_conditions(min_length=min_length, max_length=max_length)
    if min_length is None and max_length is None:
        return list(graphs)
    low = min_length if min_length is not None else 0
    high = max_length if max_length is not None else float("inf")
    kept = [g for g in graphs if low <= g[NODE_TYPE].num_nodes <= high]
    if not kept:
        raise ValueError(f"--min-length/--max-length: no dialogue of the "
                         f"split has {low}-{high} utterances")
    return kept
