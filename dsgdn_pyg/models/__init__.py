"""The AMB-DSGDN model and its parts.

The names below are imported on first use, so that the configuration
(:mod:`dsgdn_pyg.models.config`) can check a ``dsgdn train`` option without
importing torch and PyG first (seconds on a laptop).
"""

import importlib

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


def __getattr__(name):
    if name not in _WHERE:
        raise AttributeError(
            f"module 'dsgdn_pyg.models' has no attribute {name!r}")
    module = importlib.import_module(f"dsgdn_pyg.models.{_WHERE[name]}")
    return getattr(module, name)


def __dir__():
    return sorted(list(globals()) + __all__)
