"""Feature extraction: from a dialogue manifest to the feature files the
model reads (``metadata.pkl``, ``features.json``, ``<modality>.npz``).

The text and audio extractors need the ``text`` and ``audio`` extras; they
are imported only when used.
"""

from dsgdn_pyg.lazy_exports import lazy_exports

# Imported on first use (as in dsgdn_pyg.training), so that the commands
# check their options and paths before torch and PyG are imported.
_WHERE = {
    "IS10_DIM": "audio", "AudioEncoder": "audio",
    "FeatureCache": "cache", "dialogue_key": "cache",
    "MODALITIES": "extract", "ExtractionSummary": "extract",
    "ProgressHook": "extract", "build_metadata": "extract",
    "extract_features": "extract",
    "SPLITS": "manifest", "Dialogue": "manifest", "Utterance": "manifest",
    "read_manifest": "manifest",
    "FEATURES_JSON": "store", "METADATA": "store", "npz_name": "store",
    "read_features_json": "store",
    "DEFAULT_TEXT_MODEL": "text", "TextEncoder": "text",
    "resolve_text_model": "text",
    "VISUAL_DIM": "visual", "VisualLoader": "visual", "load_visual": "visual",
}

__all__ = sorted(_WHERE)

__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
