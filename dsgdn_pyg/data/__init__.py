"""Dialogue graphs and datasets."""

from dsgdn_pyg.data.dialogue_graph import (EDGE_TYPES, INTER, INTRA,
                                           NODE_TYPE, NUM_RELATIONS,
                                           add_dialogue_edges,
                                           build_dialogue_graph,
                                           dense_relation_adjacency,
                                           dialogue_edges, speaker_codes)
from dsgdn_pyg.data.transforms import AddDialogueEdges

__all__ = [
    "AddDialogueEdges",
    "EDGE_TYPES",
    "INTER",
    "INTRA",
    "NODE_TYPE",
    "NUM_RELATIONS",
    "add_dialogue_edges",
    "build_dialogue_graph",
    "dense_relation_adjacency",
    "dialogue_edges",
    "speaker_codes",
]
