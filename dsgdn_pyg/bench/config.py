"""What ``dsgdn bench`` runs (:class:`BenchConfig`), checked without torch
or PyG, so that a bad option is refused before seconds of imports."""

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional, Sequence

from dsgdn_pyg.errors import check_device_name

DEFAULT_LENGTHS = (16, 32, 64, 110, 256, 512, 1024, 2048, 4096)
DEFAULT_WINDOWS = (5, 20)
HUGE_LENGTH = 100_000
#: Names of the compared blocks, in table order.
LAYERS = ("sparse", "dense", "gat")
LAYER_TITLES = {
    "sparse": "DiffRGCN (sparse)",
    "dense": "DenseDiffRGCN (dense, padded)",
    "gat": "GATConv block",
}


#: The environment variable naming the folder of the datasets that the
#: benchmarks and the example studies read by default.
DATA_ENV = "DSGDN_DATA"


def dataset_dir(name: str) -> Path:
    """Where dataset :obj:`name` is looked for by default:
    ``$DSGDN_DATA/<name>``, else ``../shared/data/<name>`` beside a source
    checkout (the layout this repository is developed in)."""
    root = os.environ.get(DATA_ENV)
    if root:
        return Path(root).expanduser() / name
    return Path(__file__).resolve().parents[2].parent / "shared" / "data" \
        / name


def default_iemocap_path() -> Path:
    """``iemocap/iemocap.pkl`` in the datasets folder (:func:`dataset_dir`)."""
    return dataset_dir("iemocap") / "iemocap.pkl"


@dataclass
class BenchConfig:
    """What ``dsgdn bench`` runs (defaults: the full benchmark)."""
    lengths: Sequence[int] = DEFAULT_LENGTHS
    windows: Sequence[int] = DEFAULT_WINDOWS
    channels: int = 512
    heads: int = 2
    dropout: float = 0.2
    repeats: int = 10
    warmup: int = 2
    #: Stop repeating a measurement after this many seconds (at least 3).
    max_seconds: float = 20.0
    device: str = "auto"
    iemocap: Optional[str] = None  # default: default_iemocap_path()
    iemocap_batches: Optional[int] = None  # all batches of the epoch
    huge_length: Optional[int] = HUGE_LENGTH
    e2e: bool = True
    e2e_dialogues: int = 120
    #: Timed epochs per model end to end (median reported), after one
    #: untimed epoch that measures the peak memory.
    e2e_epochs: int = 5
    layers: Sequence[str] = LAYERS
    seed: int = 0
    quick: bool = False
    #: Run every case in its own process (the huge case always is).
    isolate: bool = False
    #: torch's intra-op threads (default: torch's own choice).
    threads: Optional[int] = None

    def __post_init__(self):
        self.lengths = tuple(int(v) for v in self.lengths)
        self.windows = tuple(int(v) for v in self.windows)
        self.layers = tuple(self.layers)
        # Each message names the option of `dsgdn bench` that sets it.
        if not self.lengths or min(self.lengths) < 1:
            raise ValueError(f"--lengths: expected positive dialogue "
                             f"lengths, got {list(self.lengths)}")
        if not self.windows or min(self.windows) < 0:
            raise ValueError(f"--windows: expected non-negative windows, "
                             f"got {list(self.windows)}")
        if self.repeats < 1 or self.warmup < 0:
            raise ValueError(f"--repeats: expected >= 1 and --warmup >= 0, "
                             f"got {self.repeats} and {self.warmup}")
        bad = [name for name in self.layers if name not in LAYERS]
        if bad or "sparse" not in self.layers:
            raise ValueError(f"layers: expected a subset of {LAYERS} with "
                             f"'sparse', got {list(self.layers)}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"--threads: expected >= 1, got {self.threads}")
        if self.channels < 2 or self.channels % 2:
            raise ValueError(f"--channels: expected an even width >= 2, got "
                             f"{self.channels}")
        if self.heads < 1:
            raise ValueError(f"--heads: expected >= 1, got {self.heads}")
        check_device_name("--device", self.device)
        if self.iemocap is not None and not Path(self.iemocap).is_file():
            raise ValueError(f"--iemocap: {self.iemocap} is not a file "
                             f"(expected the IEMOCAP metadata file "
                             f"iemocap.pkl)")

    def to_dict(self) -> dict:
        return asdict(self)


def quick_config(**overrides) -> BenchConfig:
    """A subset that runs in under two minutes on a laptop CPU: three
    lengths, w = 5, three repeats, two IEMOCAP batches, no 100k dialogue,
    and a small end-to-end epoch (three of each model)."""
    values = dict(lengths=(32, 256, 1024), windows=(5, ), repeats=3,
                  warmup=1, max_seconds=5.0, iemocap_batches=2,
                  huge_length=None, e2e_dialogues=24, e2e_epochs=3,
                  quick=True)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return BenchConfig(**values)
