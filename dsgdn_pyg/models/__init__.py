"""The AMB-DSGDN model and its parts.

The names below are imported on first use, so that the configuration
(:mod:`dsgdn_pyg.models.config`) can check a ``dsgdn train`` option without
importing torch and PyG first (seconds on a laptop).
"""

from dsgdn_pyg.lazy_exports import lazy_exports

_WHERE = {
    "AMBDSGDN": "amb_dsgdn", "ModelOutput": "amb_dsgdn",
    "amb_dsgdn_loss": "amb_dsgdn", "count_parameters": "amb_dsgdn",
    "GRAPH_LAYERS": "config", "MODALITIES": "config", "PRESETS": "config",
    "ModelConfig": "config", "parse_fusion_weights": "config",
    "parse_modalities": "config", "preset_config": "config",
    "ContextEncoder": "encoders",
    "SinusoidalPositionalEncoding": "encoders",
    "TransformerLayer": "encoders",
    "AdaptiveModalityDropout": "modality_balance",
    "ExpectationScale": "modality_balance",
    "drop_probabilities": "modality_balance",
}

__all__ = sorted(_WHERE)

__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
