"""The paper's experiments (Sec. 6), each a named grid of cells.

A cell is a set of `dsgdn train` settings applied on top of the base
configuration (overrides of the request, ``{"window": 5}``); the default
cell is the published configuration of the preset. ``train`` experiments
train every (cell, seed); ``evaluate`` experiments measure trained runs
under test-time conditions (no retraining); ``overhead`` measures time and
FLOPs with the bench's timer.
"""

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

from dsgdn_pyg.training.options import to_options

# The paper's numbers as (weighted F1, weighted accuracy), in percent, per
# preset; they were measured with all three modalities unless said.
FULL = {"iemocap": (75.64, 76.09), "meld": (66.18, 66.07)}
# Table 4: per modality subset (also the full model's number for a base
# configuration with fewer modalities).
TABLE4 = {
    "iemocap": {"a": (60.70, 62.60), "t": (68.63, 69.02),
                "v": (35.60, 39.80), "ta": (72.87, 73.43),
                "tv": (69.16, 69.71), "tav": (75.64, 76.09)},
    "meld": {"a": (37.70, 34.70), "t": (65.78, 65.61), "v": (31.27, 23.16),
             "ta": (65.65, 65.49), "tv": (65.86, 65.77),
             "tav": (66.18, 66.07)},
}
# What the overhead experiment (Table 8) measures per cell: key, label.
OVERHEAD_METRICS = (
    ("inference_ms_per_utterance", "inference (ms / utterance)"),
    ("throughput_utterances_per_s", "throughput (utterances / s)"),
    ("batch_ms", "training batch (ms)"),
    ("gflop_per_utterance", "GFLOP / utterance (inference)"),
    ("tflop_per_s", "TFLOP/s (inference)"),
)
# Table 7 (weighted F1 only): {preset: {(q_base, p_exe): F1}}.
TABLE7 = {
    "iemocap": {(0.1, 0.3): 74.88, (0.1, 0.5): 75.62, (0.1, 0.7): 75.2,
                (0.3, 0.3): 75.37, (0.3, 0.5): 75.64, (0.3, 0.7): 75.06,
                (0.5, 0.3): 75.07, (0.5, 0.5): 74.96, (0.5, 0.7): 75.12},
    "meld": {(0.1, 0.1): 65.91, (0.1, 0.2): 65.8, (0.1, 0.3): 65.78,
             (0.2, 0.1): 65.80, (0.2, 0.2): 66.18, (0.2, 0.3): 65.81,
             (0.3, 0.1): 65.87, (0.3, 0.2): 65.87, (0.3, 0.3): 65.72},
}


@dataclass(frozen=True)
class Cell:
    """One configuration of an experiment."""
    name: str
    #: Settings of `dsgdn train` options, by setting name
    #: (:data:`~dsgdn_pyg.training.options.TRAIN_OPTIONS`).
    overrides: Mapping[str, Any] = field(default_factory=dict, hash=False)
    label: str = ""
    x: Optional[float] = None  # position on a sweep's axis
    y: Optional[float] = None  # second axis of a grid
    # The paper's (F1, accuracy) per preset, or (F1, None); with the
    # modalities in :obj:`paper_modalities` (None: all three).
    paper: Dict[str, Tuple[Optional[float], Optional[float]]] = field(
        default_factory=dict)
    paper_modalities: Optional[str] = None

    @property
    def options(self) -> Tuple[str, ...]:
        """The overrides as `dsgdn train` command-line words."""
        return tuple(to_options(self.overrides))


@dataclass(frozen=True)
class Condition:
    """A test-time condition of an ``evaluate`` experiment."""
    name: str
    label: str
    x: Optional[float] = None
    noise: float = 0.0
    noise_seeds: Tuple[int, ...] = (0,)
    min_length: Optional[int] = None
    max_length: Optional[int] = None


@dataclass(frozen=True)
class Experiment:
    name: str
    reproduces: str
    varies: str
    kind: str  # train | evaluate | overhead
    plot: str  # bars | curve | heatmap | confusion | conditions | overhead
    grid: Callable[[str], Tuple[Cell, ...]]
    default: Callable[[str], str]
    axis: str = ""
    conditions: Tuple[Condition, ...] = ()
    default_condition: Optional[str] = None
    needs: str = ""

    def cells(self, preset: str) -> Tuple[Cell, ...]:
        return self.grid(preset)

    def default_cell(self, preset: str) -> str:
        return self.default(preset)


def _const(value):
    return lambda preset: value


def _sweep(prefix: str, setting: str, values, paper_at=None):
    """Cells ``{prefix}{value}`` setting :obj:`setting` to each value; the
    full model's paper number on the value :obj:`paper_at` gives."""
    def grid(preset: str) -> Tuple[Cell, ...]:
        at = paper_at(preset) if paper_at else None
        return tuple(Cell(f"{prefix}{v}", {setting: v}, f"{v}", x=v,
                          paper={preset: FULL[preset]} if v == at and
                          preset in FULL else {})
                     for v in values)
    return grid


def _modalities(preset: str) -> Tuple[Cell, ...]:
    return tuple(Cell(m, {"modalities": m}, m.upper(),
                      paper={preset: TABLE4[preset][m]}
                      if preset in TABLE4 else {}, paper_modalities=m)
                 for m in ("t", "a", "v", "ta", "tv", "tav"))


def _graph(preset: str) -> Tuple[Cell, ...]:
    paper = {"iemocap": {"diff": FULL["iemocap"], "gcn": (73.44, 73.56),
                         "none": (68.00, 68.82)},
             "meld": {"diff": FULL["meld"], "gcn": (65.62, 64.80),
                      "none": (65.07, 65.10)}}.get(preset, {})
    labels = {"diff": "DiffRGCN", "gcn": "GCN (w/o DiffRGCN)",
              "none": "no graph (w/o subgraphs + DiffRGCN)",
              "gat": "GAT (extra row)"}
    return tuple(Cell(k, {"graph_layer": k}, labels[k],
                      paper={preset: paper[k]} if k in paper else {})
                 for k in ("diff", "gcn", "none", "gat"))


def _modality_dropout(preset: str) -> Tuple[Cell, ...]:
    paper = {"iemocap": [FULL["iemocap"], (74.77, 75.29), (72.99, 73.56),
                         (67.83, 68.78)],
             "meld": [FULL["meld"], (66.00, 66.05), (65.56, 65.71),
                      (64.87, 64.80)]}.get(preset)
    specs = [("full", {}, "full model"),
             ("no-md", {"modality_dropout": False}, "w/o MD"),
             ("no-md-gcn", {"modality_dropout": False, "graph_layer": "gcn"},
              "w/o MD + DiffRGCN"),
             ("no-md-none", {"modality_dropout": False,
                             "graph_layer": "none"},
              "w/o MD + subgraphs + DiffRGCN")]
    return tuple(Cell(name, opts, label,
                      paper={preset: paper[i]} if paper else {})
                 for i, (name, opts, label) in enumerate(specs))


def _dropout_grid(preset: str) -> Tuple[Cell, ...]:
    qs, ps = ((0.1, 0.2, 0.3), (0.1, 0.2, 0.3)) if preset == "meld" else \
        ((0.1, 0.3, 0.5), (0.3, 0.5, 0.7))
    table = TABLE7.get(preset, {})
    return tuple(Cell(f"q{q}-p{p}", {"q_base": q, "p_exe": p},
                      f"q_base {q}, p_exe {p}", x=p, y=q,
                      paper={preset: (table[(q, p)], None)}
                      if (q, p) in table else {})
                 for q in qs for p in ps)


def _fusion(preset: str) -> Tuple[Cell, ...]:
    return (Cell("sum", {}, "learned sum (published)"),
            Cell("t0.8-v0.1-a0.1", {"fusion_weights": "t=0.8,v=0.1,a=0.1"},
                 "fixed t 0.8 / v 0.1 / a 0.1"))


def _overhead(preset: str) -> Tuple[Cell, ...]:
    return (Cell("diff", {}, "DiffRGCN + balancing (full)"),
            Cell("gat", {"graph_layer": "gat"}, "GAT + balancing"),
            Cell("diff-no-md", {"modality_dropout": False},
                 "DiffRGCN w/o balancing"))


def _base(preset: str) -> Tuple[Cell, ...]:
    return (Cell("default", {}, "published configuration"),)


NOISE_LEVELS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
NOISE_SEEDS = (1, 2, 3)
AUDIO_VISUAL = "audio and visual features (the experiment uses all three " \
    "modalities: run it on data that has them, or on the synthetic " \
    "dialogues)"

EXPERIMENTS: Dict[str, Experiment] = {e.name: e for e in (
    Experiment("modalities", "Table 4", "modalities: t, a, v, a+t, v+t, "
               "a+v+t", "train", "bars", _modalities, _const("tav"),
               needs=AUDIO_VISUAL),
    Experiment("graph", "Table 5", "graph layer: DiffRGCN, plain GCN on the "
               "same relational subgraphs, no graph; GAT as an extra row",
               "train", "bars", _graph, _const("diff")),
    Experiment("modality-dropout", "Table 6", "adaptive modality dropout "
               "(MD) on/off, with DiffRGCN, GCN or no graph", "train",
               "bars", _modality_dropout, _const("full"),
               needs=AUDIO_VISUAL),
    Experiment("window", "Fig. 3", "graph window w: 1, 2, 5, 6, 10, 15, 20, "
               "30", "train", "curve",
               _sweep("w", "window", (1, 2, 5, 6, 10, 15, 20, 30),
                      lambda p: {"iemocap": 20, "meld": 6}.get(p)),
               lambda p: "w6" if p == "meld" else "w20", axis="window w"),
    Experiment("heads", "Fig. 4", "differential attention heads per "
               "DiffRGCN block: 1, 2, 4, 8", "train", "curve",
               _sweep("h", "graph_heads", (1, 2, 4, 8), _const(2)),
               _const("h2"), axis="attention heads"),
    Experiment("warm-up", "Fig. 5", "warm-up epochs before modality "
               "dropout: 0, 10, 20, 30, 40, 50, 60", "train", "curve",
               _sweep("e", "warm_up_epochs", (0, 10, 20, 30, 40, 50, 60),
                      lambda p: {"iemocap": 60, "meld": 0}.get(p)),
               lambda p: "e0" if p == "meld" else "e60",
               axis="warm-up epochs", needs=AUDIO_VISUAL),
    Experiment("dropout-grid", "Table 7", "q_base x p_exe of the adaptive "
               "modality dropout (3 x 3)", "train", "heatmap",
               _dropout_grid,
               lambda p: "q0.2-p0.2" if p == "meld" else "q0.3-p0.5",
               axis="p_exe", needs=AUDIO_VISUAL),
    Experiment("long-dialogues", "Fig. 6", "test dialogues: all vs those of "
               "20-50 utterances (a metric over trained runs, no "
               "retraining)", "evaluate", "conditions", _base,
               _const("default"),
               conditions=(Condition("all", "all test dialogues"),
                           Condition("len20-50", "20-50 utterances",
                                     min_length=20, max_length=50)),
               default_condition="all"),
    Experiment("overhead", "Table 8", "inference time, batch time, "
               "throughput and FLOPs of DiffRGCN vs GAT, with and without "
               "modality balancing", "overhead", "overhead", _overhead,
               _const("diff")),
    Experiment("noise", "Fig. 7", "Gaussian noise of 0-0.7 x each "
               "feature's std added at test time to the selected checkpoint "
               f"(noise seeds {', '.join(map(str, NOISE_SEEDS))}; no "
               "retraining)", "evaluate", "conditions", _base,
               _const("default"),
               conditions=tuple(Condition(f"noise{v}", f"{v}", x=v, noise=v,
                                          noise_seeds=NOISE_SEEDS)
                                for v in NOISE_LEVELS),
               default_condition="noise0.0", axis="noise (x feature std)"),
    Experiment("fusion-weights", "Fig. 8", "fixed fusion weights 0.8/0.1/"
               "0.1 for t/v/a vs the published sum, with confusion "
               "matrices", "train", "confusion", _fusion, _const("sum"),
               needs=AUDIO_VISUAL),
)}


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ValueError(f"experiment: expected one of "
                         f"{', '.join(EXPERIMENTS)}, got {name!r}")
    return EXPERIMENTS[name]
