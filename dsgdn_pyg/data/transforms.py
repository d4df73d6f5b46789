"""PyG transforms for dialogue graphs."""

from torch_geometric.data import HeteroData
from torch_geometric.data.datapipes import functional_transform
from torch_geometric.transforms import BaseTransform

from dsgdn_pyg.data.dialogue_graph import (NODE_TYPE, add_dialogue_edges,
                                           check_window)


@functional_transform("add_dialogue_edges")
class AddDialogueEdges(BaseTransform):
    r"""Adds the inter- and intra-speaker subgraphs of AMB-DSGDN (Eq. 7-8) to a
    dialogue (functional name: :obj:`add_dialogue_edges`).

    The dialogue is a :class:`~torch_geometric.data.HeteroData` whose
    :obj:`"utterance"` nodes carry a :obj:`speaker` vector in utterance order.
    The transform writes :obj:`edge_index` and :obj:`edge_type` of the edge
    types :obj:`("utterance", "inter", "utterance")` and
    :obj:`("utterance", "intra", "utterance")`, replacing any there.

    Apply it once, as a :obj:`pre_transform`, so the graphs are not rebuilt
    every epoch.

    Args:
        window (int, optional): Largest utterance distance that still gets an
            edge. (default: :obj:`5`, the paper's default)
    """

    def __init__(self, window: int = 5):
        self.window = check_window(window)

    def forward(self, data: HeteroData) -> HeteroData:
        if NODE_TYPE not in data.node_types or "speaker" not in data[NODE_TYPE]:
            raise ValueError(
                "AddDialogueEdges: expected a HeteroData with a 'speaker' "
                "vector on node type 'utterance'")
        return add_dialogue_edges(data, self.window)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(window={self.window})"
