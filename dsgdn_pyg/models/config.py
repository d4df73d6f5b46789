"""The configuration of the AMB-DSGDN model: its modalities, sizes and
published presets (the paper's Sec. 5.4), checked when made.

Kept apart from the model so that ``dsgdn train`` refuses a bad option
before it imports torch and PyG (seconds on a laptop).
"""

import math
from dataclasses import asdict, dataclass, field
from typing import Dict, Optional

from dsgdn_pyg.errors import check_number

MODALITIES = ("text", "audio", "visual")
MODALITY_CODES = {"t": "text", "a": "audio", "v": "visual"}
GRAPH_LAYERS = ("diff", "gat", "gcn", "none", "dense")


def parse_modalities(spec) -> tuple:
    """``"tav"``, ``"t,a"`` or ``["text", "audio"]`` -> canonical ordered
    tuple of modality names."""
    if isinstance(spec, str):
        if "," in spec:
            items = spec.split(",")
        else:
            items = list(spec) if set(spec) <= set("tav") else [spec]
    else:
        items = list(spec)
    names = set()
    for item in items:
        item = item.strip()
        name = MODALITY_CODES.get(item, item)
        if name not in MODALITIES:
            raise ValueError(
                f"--modalities: expected a non-empty subset of t, a, v "
                f"(text, audio, visual), got {spec!r}")
        names.add(name)
    if not names:
        raise ValueError("--modalities: expected a non-empty subset of t, a, v "
                         f"(text, audio, visual), got {spec!r}")
    return tuple(m for m in MODALITIES if m in names)


def parse_fusion_weights(spec: Optional[str]) -> Optional[Dict[str, float]]:
    """``"t=0.8,v=0.1,a=0.1"`` -> ``{"text": 0.8, "visual": 0.1, "audio":
    0.1}`` (fixed fusion weights, the paper's Sec. 6.7); ``None`` or ``""``
    -> ``None`` (the published plain sum of the modality logits)."""
    if not spec:
        return None
    weights = {}
    for item in str(spec).split(","):
        key, sep, value = item.partition("=")
        name = MODALITY_CODES.get(key.strip(), key.strip())
        try:
            weight = float(value)
        except ValueError:
            weight = None
        if not sep or name not in MODALITIES or weight is None \
                or name in weights:
            raise ValueError(f"--fusion-weights: expected MODALITY=WEIGHT "
                             f"pairs such as t=0.8,v=0.1,a=0.1, got "
                             f"{spec!r}")
        if not math.isfinite(weight):
            raise ValueError(f"--fusion-weights: the {name} weight is "
                             f"{weight}; expected finite weights >= 0, got "
                             f"{spec!r}")
        weights[name] = weight
    return weights


@dataclass
class ModelConfig:
    """Architecture of :class:`~dsgdn_pyg.models.AMBDSGDN`; everything needed to rebuild it."""
    input_dims: Dict[str, int] = field(default_factory=lambda: {
        "text": 1024, "audio": 1582, "visual": 342})
    num_classes: int = 6
    num_speakers: int = 2
    hidden: int = 512
    num_heads: int = 8  # Transformer heads (audio/visual encoders)
    graph_heads: int = 2  # DiffRGCN heads
    dropout: float = 0.5
    graph_dropout: float = 0.2
    graph_layer: str = "diff"
    modality_dropout: bool = True
    q_base: float = 0.3
    q_lambda: float = 0.9
    p_exe: float = 0.5
    # Fixed weight of each modality's logits in the fusion (Sec. 6.7); None:
    # the published plain sum.
    fusion_weights: Optional[Dict[str, float]] = None

    def __post_init__(self):
        if self.graph_layer not in GRAPH_LAYERS:
            raise ValueError(f"--graph-layer: expected one of {GRAPH_LAYERS}, "
                             f"got {self.graph_layer!r}")
        if not self.input_dims:
            raise ValueError("input_dims: expected at least one modality")
        parse_modalities(list(self.input_dims))
        _check_model_ranges(self)
        if self.hidden % 2 or self.hidden % self.num_heads:
            raise ValueError(
                f"--hidden: expected an even width divisible by --num-heads "
                f"({self.num_heads}), got {self.hidden}")
        if self.fusion_weights is not None:
            given = set(self.fusion_weights)
            if given != set(self.modalities) or any(
                    w < 0 for w in self.fusion_weights.values()):
                raise ValueError(
                    f"--fusion-weights: expected one non-negative weight per "
                    f"modality of the model ({', '.join(self.modalities)}), "
                    f"got {self.fusion_weights}")

    @property
    def modalities(self) -> tuple:
        return parse_modalities(list(self.input_dims))

    def to_dict(self) -> dict:
        return asdict(self)


def _check_model_ranges(config: ModelConfig) -> None:
    """Sizes at least 1, dropouts in [0, 1), the balancing probabilities of
    Sec. 4.6 in [0, 1]; each message names the ``dsgdn train`` option."""
    for option, value in (("--hidden", config.hidden),
                          ("--num-heads", config.num_heads),
                          ("--heads", config.graph_heads),
                          ("num_classes", config.num_classes),
                          ("num_speakers", config.num_speakers)):
        check_number(option, value, 1, integer=True)
    for option, value in (("--dropout", config.dropout),
                          ("--graph-dropout", config.graph_dropout)):
        check_number(option, value, 0, 1, high_open=True)
    for option, value in (("--q-base", config.q_base),
                          ("--p-exe", config.p_exe)):
        check_number(option, value, 0, 1)
    check_number("--q-lambda", config.q_lambda, 0)


PRESETS: Dict[str, ModelConfig] = {
    "iemocap": ModelConfig(
        input_dims={"text": 1024, "audio": 1582, "visual": 342},
        num_classes=6, num_speakers=2, dropout=0.5, q_base=0.3,
        q_lambda=0.9, p_exe=0.5),
    "meld": ModelConfig(
        input_dims={"text": 1024, "audio": 300, "visual": 342},
        num_classes=7, num_speakers=9, dropout=0.11, q_base=0.2,
        q_lambda=0.9, p_exe=0.2),
}


def preset_config(name: str, **overrides) -> ModelConfig:
    """A copy of a preset's :class:`ModelConfig` with overrides applied."""
    if name not in PRESETS:
        raise ValueError(f"preset: expected one of {sorted(PRESETS)}, got "
                         f"{name!r}")
    values = PRESETS[name].to_dict()
    modalities = overrides.pop("modalities", None)
    values.update({k: v for k, v in overrides.items() if v is not None})
    if modalities is not None:
        values["input_dims"] = {
            m: values["input_dims"][m] for m in parse_modalities(modalities)
        }
    return ModelConfig(**values)
