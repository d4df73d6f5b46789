"""What ``dsgdn bench layers`` runs (:class:`LayerSuiteConfig`), checked
without torch or PyG, so that a bad option is refused before seconds of
imports."""

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional, Sequence

from dsgdn_pyg.bench.config import dataset_dir
from dsgdn_pyg.errors import check_device_name

CASES = ("cora", "random-100k", "tolokers", "sampled-1m")
LAYERS = ("gat", "gatv2", "transformer", "diff")
LAYER_TITLES = {"gat": "GATConv", "gatv2": "GATv2Conv",
                "transformer": "TransformerConv", "diff": "DiffGATConv"}
MODES = ("forward_backward", "inference")
#: (input width, heads, width per head) of each case.
WIDTHS = {"cora": (1433, 8, 8), "random-100k": (64, 4, 16),
          "tolokers": (64, 4, 16), "sampled-1m": (64, 4, 16)}
CORA_RAW = [f"ind.cora.{name}" for name in
            ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")]


def default_planetoid_root() -> Path:
    """``planetoid`` in the datasets folder (:func:`dataset_dir`)."""
    return dataset_dir("planetoid")


def default_heterophilous_root() -> Path:
    """``heterophilous`` in the datasets folder (:func:`dataset_dir`)."""
    return dataset_dir("heterophilous")


@dataclass
class LayerSuiteConfig:
    """What ``dsgdn bench layers`` runs (defaults: the full suite)."""
    cases: Sequence[str] = CASES
    layers: Sequence[str] = LAYERS
    repeats: int = 10
    warmup: int = 2
    #: Stop repeating a measurement after this many seconds (at least 3).
    max_seconds: float = 20.0
    device: str = "auto"
    seed: int = 0
    threads: Optional[int] = None
    #: Each case in a fresh process (default: on CPU, for its memory peak).
    isolate: Optional[bool] = None
    planetoid_root: Optional[str] = None  # default_planetoid_root()
    tolokers: Optional[str] = None  # default: <heterophilous>/tolokers.npz
    random_nodes: int = 100_000
    random_edges: int = 1_000_000
    sampled_nodes: int = 1_000_000
    sampled_edges: int = 10_000_000
    batch_size: int = 1024
    num_neighbors: Sequence[int] = (10, 10)
    batches: int = 4
    #: Seconds a case's process may run before it is recorded as timed out.
    timeout: float = 900.0

    def __post_init__(self):
        self.cases = tuple(self.cases)
        self.layers = tuple(self.layers)
        self.num_neighbors = tuple(int(v) for v in self.num_neighbors)
        bad = [c for c in self.cases if c not in CASES]
        if bad or not self.cases:
            raise ValueError(f"--cases: expected some of {', '.join(CASES)}, "
                             f"got {','.join(self.cases) or 'none'}")
        bad = [n for n in self.layers if n not in LAYERS]
        if bad or "gat" not in self.layers or len(self.layers) < 2:
            raise ValueError(f"--layers: expected gat and at least one of "
                             f"{', '.join(LAYERS[1:])}, got "
                             f"{','.join(self.layers)}")
        if self.repeats < 1 or self.warmup < 0:
            raise ValueError(f"--repeats: expected >= 1 and --warmup >= 0, "
                             f"got {self.repeats} and {self.warmup}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"--threads: expected >= 1, got {self.threads}")
        check_device_name("--device", self.device)
        sizes = dict(random_nodes=self.random_nodes,
                     random_edges=self.random_edges,
                     sampled_nodes=self.sampled_nodes,
                     sampled_edges=self.sampled_edges,
                     batch_size=self.batch_size, batches=self.batches)
        for key, value in sizes.items():
            if value < 1:
                raise ValueError(f"{key}: expected >= 1, got {value}")
        if self.batch_size > self.sampled_nodes or not self.num_neighbors \
                or min(self.num_neighbors) < 1:
            raise ValueError("sampling: expected batch_size <= sampled_nodes "
                             "and at least one hop of >= 1 neighbours")

    def to_dict(self) -> dict:
        return asdict(self)

    def tolokers_path(self) -> Path:
        return Path(self.tolokers) if self.tolokers else \
            default_heterophilous_root() / "tolokers.npz"

    def planetoid_path(self) -> Path:
        return Path(self.planetoid_root) if self.planetoid_root else \
            default_planetoid_root()
