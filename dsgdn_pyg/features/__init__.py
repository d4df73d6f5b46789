"""Feature extraction: from a dialogue manifest to the feature files the
model reads (``metadata.pkl``, ``features.json``, ``<modality>.npz``).

The text and audio extractors need the ``text`` and ``audio`` extras; they
are imported only when used.
"""

from dsgdn_pyg.features.audio import IS10_DIM, AudioEncoder
from dsgdn_pyg.features.cache import FeatureCache, dialogue_key
from dsgdn_pyg.features.extract import (MODALITIES, ExtractionSummary,
                                        ProgressHook, build_metadata,
                                        extract_features)
from dsgdn_pyg.features.manifest import (SPLITS, Dialogue, Utterance,
                                         read_manifest)
from dsgdn_pyg.features.store import (FEATURES_JSON, METADATA, npz_name,
                                      read_features_json)
from dsgdn_pyg.features.text import (DEFAULT_TEXT_MODEL, TextEncoder,
                                     resolve_text_model)
from dsgdn_pyg.features.visual import VISUAL_DIM, VisualLoader, load_visual

__all__ = [
    "AudioEncoder", "DEFAULT_TEXT_MODEL", "Dialogue", "ExtractionSummary",
    "FEATURES_JSON", "FeatureCache", "IS10_DIM", "METADATA", "MODALITIES",
    "ProgressHook", "SPLITS", "TextEncoder", "Utterance", "VISUAL_DIM",
    "VisualLoader", "build_metadata", "dialogue_key", "extract_features",
    "load_visual", "npz_name", "read_features_json", "read_manifest",
    "resolve_text_model",
]
