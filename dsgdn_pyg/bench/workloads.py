"""Benchmark inputs: batches of random dialogue graphs, their dense padded
form, and the batch sizes and dialogue lengths of each case."""

import random
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Union

import torch
from torch import Tensor

from dsgdn_pyg.data.dialogue_graph import INTER, dialogue_edges
from dsgdn_pyg.nn.dense_diff_gat import to_dense_inputs

#: Utterances per batch the sweep aims at: B = clamp(UTTERANCE_BUDGET // L,
#: 1, MAX_BATCH), so every length does comparable work per call.
UTTERANCE_BUDGET = 2048
MAX_BATCH = 16


def batch_size_for_length(length: int, budget: int = UTTERANCE_BUDGET,
                          max_batch: int = MAX_BATCH) -> int:
    """Dialogues per batch for dialogues of :obj:`length` utterances:
    :obj:`max(1, min(max_batch, budget // length))` (16 up to L = 128, then
    halving: 8 at 256, 1 from 2048)."""
    if length < 1:
        raise ValueError(f"length: expected a positive number of utterances, "
                         f"got {length}")
    return max(1, min(max_batch, budget // length))


@dataclass
class GraphBatch:
    """One batch of dialogues as the sparse layers take it (their
    inter-speaker subgraphs), plus its padded dense form."""
    x: Tensor  # [N, d]
    edge_index: Tensor  # [2, E], sorted by target, then source
    edge_type: Tensor  # [E] relation ids 1-5
    batch: Tensor  # [N] dialogue of every utterance
    lengths: List[int]

    @property
    def num_nodes(self) -> int:
        return self.x.size(0)

    @property
    def num_edges(self) -> int:
        return self.edge_index.size(1)

    @property
    def padded_nodes(self) -> int:
        """Rows of the dense form: dialogues x the longest one."""
        return len(self.lengths) * max(self.lengths)

    def dense(self):
        """``(x [B, L_max, d], adj [B, L_max, L_max], mask [B, L_max])``,
        padded to the longest dialogue as the published code does."""
        return to_dense_inputs(self.x, self.edge_index, self.edge_type,
                               self.batch, batch_size=len(self.lengths),
                               max_num_nodes=max(self.lengths))

    def to(self, device: Union[str, torch.device]) -> "GraphBatch":
        return GraphBatch(self.x.to(device), self.edge_index.to(device),
                          self.edge_type.to(device), self.batch.to(device),
                          self.lengths)


def make_graph_batch(lengths: Sequence[int], window: int, channels: int,
                     num_speakers: int = 2, seed: int = 0) -> GraphBatch:
    """A batch of dialogues of the given lengths with random speakers and
    features ``N(0, 1)``, their inter-speaker subgraphs of :obj:`window`
    concatenated as a PyG batch would be."""
    if not lengths or min(lengths) < 1:
        raise ValueError(f"lengths: expected positive dialogue lengths, got "
                         f"{list(lengths)}")
    gen = torch.Generator().manual_seed(seed)
    edge_indices, edge_types, offset = [], [], 0
    for length in lengths:
        speakers = torch.randint(0, num_speakers, (length, ), generator=gen)
        edge_index, edge_type = dialogue_edges(speakers, window)[INTER]
        edge_indices.append(edge_index + offset)
        edge_types.append(edge_type)
        offset += length
    x = torch.randn(offset, channels, generator=gen)
    batch = torch.repeat_interleave(torch.arange(len(lengths)),
                                    torch.tensor(list(lengths)))
    return GraphBatch(x, torch.cat(edge_indices, dim=1),
                      torch.cat(edge_types), batch, list(lengths))


def iemocap_train_lengths(path: Union[str, Path]) -> List[int]:
    """Dialogue lengths of the IEMOCAP training split (``train_ids`` of the
    ``iemocap.pkl`` metadata: 108 dialogues of 8-94 utterances)."""
    from dsgdn_pyg.data.safe_pickle import safe_load
    from dsgdn_pyg.errors import DataError

    data = safe_load(path)
    try:
        speakers, train_ids = data[0], data[3]
        return [len(speakers[vid]) for vid in train_ids]
    except (TypeError, KeyError, IndexError):
        raise DataError(f"{path}: expected the IEMOCAP metadata list "
                        f"(speakers, labels, sentences, train_ids, ...)") \
            from None


def epoch_batches(lengths: Sequence[int], batch_size: int = 16,
                  seed: int = 0, limit: Optional[int] = None
                  ) -> List[List[int]]:
    """The dialogue lengths shuffled with :obj:`seed` and cut into batches
    of :obj:`batch_size`, as one epoch of a shuffling loader sees them
    (the first :obj:`limit` batches only, if given)."""
    order = list(lengths)
    random.Random(seed).shuffle(order)
    batches = [order[i:i + batch_size]
               for i in range(0, len(order), batch_size)]
    return batches[:limit] if limit is not None else batches
