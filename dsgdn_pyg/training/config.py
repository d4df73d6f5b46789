"""Training recipes (the paper's Sec. 5.4 and the published runs) and the
configuration of one run."""

from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional

from dsgdn_pyg.errors import SEED_MAX, check_number

# Inverse-frequency class weights of IEMOCAP (the loss of Eq. 31-33).
IEMOCAP_CLASS_FREQUENCIES = [0.086747, 0.144406, 0.227883, 0.160585,
                             0.127711, 0.252668]

RECIPES: Dict[str, dict] = {
    # The published runs: 61 epochs, so modality dropout is on for one.
    "iemocap": dict(lr=6.8e-5, weight_decay=5e-5, batch_size=16, window=20,
                    epochs=61, warm_up_epochs=60,
                    class_weights=[1.0 / f for f in
                                   IEMOCAP_CLASS_FREQUENCIES]),
    "meld": dict(lr=5e-5, weight_decay=7.5e-5, batch_size=64, window=6,
                 epochs=20, warm_up_epochs=0, class_weights=None),
}

# The built-in synthetic dialogues are small: a short schedule that still
# reaches the modality-dropout phase, so `dsgdn train` with no arguments runs
# in about a minute on a laptop CPU.
SYNTHETIC_SCHEDULE = dict(epochs=12, warm_up_epochs=6, lr=1e-3)

SELECT_ON = ("valid", "test")


@dataclass
class TrainConfig:
    """Optimisation and evaluation settings of one training run."""
    preset: str = "iemocap"
    lr: float = 6.8e-5
    weight_decay: float = 5e-5
    batch_size: int = 16
    epochs: int = 61
    warm_up_epochs: int = 60
    window: int = 20
    class_weights: Optional[List[float]] = None
    seed: int = 0
    device: str = "auto"
    select_on: str = "valid"
    num_workers: int = 0
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        """Every field checked, the message naming the ``dsgdn train``
        option that sets it."""
        if self.select_on not in SELECT_ON:
            raise ValueError(f"--select-on: expected one of {SELECT_ON}, got "
                             f"{self.select_on!r}")
        check_number("--lr", self.lr, 0, low_open=True)
        check_number("--weight-decay", self.weight_decay, 0)
        for option, value, low in (
                ("--batch-size", self.batch_size, 1),
                ("--epochs", self.epochs, 1),
                ("--warm-up", self.warm_up_epochs, 0),
                ("--window", self.window, 0),
                ("num_workers", self.num_workers, 0)):
            check_number(option, value, low, integer=True)
        check_number("--seed", self.seed, 0, SEED_MAX, integer=True)
        for weight in self.class_weights or []:
            check_number("class_weights", weight, 0, low_open=True)

    def to_dict(self) -> dict:
        return asdict(self)


def recipe_config(preset: str, synthetic: bool = False,
                  **overrides) -> TrainConfig:
    """The :class:`TrainConfig` of a preset's recipe (shortened for the
    synthetic data), with the given non-``None`` fields overridden."""
    if preset not in RECIPES:
        raise ValueError(f"preset: expected one of {sorted(RECIPES)}, got "
                         f"{preset!r}")
    values = dict(RECIPES[preset], preset=preset)
    if synthetic:
        values.update(SYNTHETIC_SCHEDULE)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig(**values)
