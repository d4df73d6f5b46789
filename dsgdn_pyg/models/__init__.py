"""The AMB-DSGDN model and its parts."""

from dsgdn_pyg.models.amb_dsgdn import (AMBDSGDN, GRAPH_LAYERS, MODALITIES,
                                        PRESETS, ModelConfig, ModelOutput,
                                        amb_dsgdn_loss, count_parameters,
                                        parse_fusion_weights,
                                        parse_modalities, preset_config)
from dsgdn_pyg.models.encoders import (ContextEncoder,
                                       SinusoidalPositionalEncoding,
                                       TransformerLayer)
from dsgdn_pyg.models.modality_balance import (AdaptiveModalityDropout,
                                               ExpectationScale,
                                               drop_probabilities)

__all__ = [
    "AMBDSGDN", "AdaptiveModalityDropout", "ContextEncoder",
    "ExpectationScale", "GRAPH_LAYERS", "MODALITIES", "ModelConfig",
    "ModelOutput", "PRESETS", "SinusoidalPositionalEncoding",
    "TransformerLayer", "amb_dsgdn_loss", "count_parameters",
    "drop_probabilities", "parse_fusion_weights", "parse_modalities", "preset_config",
]
