"""Dialogue graphs and datasets."""

from dsgdn_pyg.data.dialogue_graph import (EDGE_TYPES, INTER, INTRA,
                                           NODE_TYPE, NUM_RELATIONS,
                                           add_dialogue_edges,
                                           build_dialogue_graph,
                                           dense_relation_adjacency,
                                           dialogue_edges, speaker_codes)
from dsgdn_pyg.data.transforms import AddDialogueEdges
from dsgdn_pyg.data.safe_pickle import safe_load
from dsgdn_pyg.data.readers import (Dialogue, DialogueRecords,
                                    read_dialogue_folder, read_feature_bundle)
from dsgdn_pyg.data.synthetic import (SyntheticConfig,
                                      make_synthetic_dialogues,
                                      synthetic_records)
from dsgdn_pyg.data.corpus import (DialogueCorpus, build_corpus,
                                   carve_validation, load_corpus,
                                   rebuild_graphs)

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
    "safe_load",
    "Dialogue",
    "DialogueRecords",
    "read_dialogue_folder",
    "read_feature_bundle",
    "SyntheticConfig",
    "make_synthetic_dialogues",
    "synthetic_records",
    "DialogueCorpus",
    "build_corpus",
    "carve_validation",
    "load_corpus",
    "rebuild_graphs",
]
