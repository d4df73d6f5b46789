"""The plot of an experiment report in the paper's form: bars for the
ablation tables, curves for the sweeps (Fig. 3-5), a heatmap for the
q_base x p_exe grid (Table 7) and the noise levels (Fig. 7), confusion
matrices for the fusion weights (Fig. 8). Needs matplotlib (the ``bench``
extra)."""

import io
from pathlib import Path
from typing import List

import numpy as np

from dsgdn_pyg.experiments.registry import OVERHEAD_METRICS, get_experiment
from dsgdn_pyg.features.optional import import_extra
from dsgdn_pyg.io import atomic_write

LABELS = {"weighted_f1": "weighted F1 (%)", "accuracy": "accuracy (%)"}
#: The formats a figure is written in, named by its file's suffix.
FIGURE_FORMATS = ("png", "pdf", "svg")


def require_matplotlib():
    """``matplotlib.pyplot`` on the Agg backend, or a
    :class:`~dsgdn_pyg.errors.MissingExtraError` naming the extra."""
    matplotlib = import_extra("matplotlib", "bench")
    matplotlib.use("Agg")
    return import_extra("matplotlib.pyplot", "bench")


def _mean(row: dict, key: str, scale: float = 100.0) -> float:
    return scale * row[key]["mean"] if "mean" in row[key] else np.nan


def _std(row: dict, key: str, scale: float = 100.0) -> float:
    return scale * row[key]["std"] if "std" in row[key] else 0.0


def plot_report(report: dict, path: Path) -> None:
    """Draws the report's plot into :obj:`path` (PNG, written
    atomically)."""
    plt = require_matplotlib()
    experiment = get_experiment(report["experiment"])
    rows = report["rows"]
    kind = experiment.plot
    if kind == "conditions" and experiment.name == "long-dialogues":
        kind = "bars"
    draw = {"bars": _bars, "curve": _curve, "heatmap": _grid,
            "confusion": _confusions, "conditions": _noise,
            "overhead": _overhead}[kind]
    fig = draw(plt, rows, report, experiment)
    fig.suptitle(f"{report['experiment']} (paper's {report['reproduces']}):"
                 f" {report['preset']}, modalities {report['modalities']}, "
                 f"seeds {','.join(map(str, report['seeds']))}",
                 fontsize=10)
    save_figure(plt, fig, path)


def figure_format(path: Path, option: str = "--out") -> str:
    """The format of the figure file :obj:`path` by its suffix (one of
    :data:`FIGURE_FORMATS`), checked before any work."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FIGURE_FORMATS:
        names = ", ".join(f".{f}" for f in FIGURE_FORMATS)
        got = repr(Path(path).suffix) if Path(path).suffix else "none"
        raise ValueError(f"{option} {path}: expected a figure file "
                         f"({names}), got the suffix {got}")
    return suffix


def save_figure(plt, fig, path: Path, dpi: int = 110,
                format: str = "png") -> None:
    """Lays out, renders and closes :obj:`fig`, then writes it to
    :obj:`path` atomically (PNG unless told)."""
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format=format, dpi=dpi)
    plt.close(fig)
    atomic_write(Path(path), lambda f: f.write(buffer.getvalue()))


def _names(rows: List[dict]) -> List[str]:
    return [r["cell"] if r["condition"] in ("test", "overhead") else
            f"{r['cell']}\n{r['condition_label']}" for r in rows]


def _bars(plt, rows, report, experiment):
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(rows) + 2), 4.5))
    x = np.arange(len(rows))
    for i, key in enumerate(("weighted_f1", "accuracy")):
        ax.bar(x + (i - 0.5) * 0.38, [_mean(r, key) for r in rows], 0.38,
               yerr=[_std(r, key) for r in rows], capsize=3,
               label=f"test {LABELS[key]}")
        paper = [(r["paper"] or {}).get(key) for r in rows]
        if any(p is not None for p in paper):
            ax.scatter(x + (i - 0.5) * 0.38,
                       [np.nan if p is None else p for p in paper],
                       marker="_", s=300, color="black", zorder=3,
                       label="paper" if i == 0 else None)
    ax.set_xticks(x, _names(rows), fontsize=8)
    ax.set_ylabel("%")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return fig


def _curve(plt, rows, report, experiment):
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    rows = sorted((r for r in rows if r["x"] is not None),
                  key=lambda r: r["x"])
    xs = [r["x"] for r in rows]
    for key in ("weighted_f1", "accuracy"):
        ax.errorbar(xs, [_mean(r, key) for r in rows],
                    yerr=[_std(r, key) for r in rows], marker="o",
                    capsize=3, label=f"test {LABELS[key]}")
        for r in rows:
            value = (r["paper"] or {}).get(key)
            if value is not None:
                ax.scatter([r["x"]], [value], marker="*", s=120,
                           color="black", zorder=3)
    ax.set_xlabel(experiment.axis)
    ax.set_ylabel("% (mean ± std over seeds)")
    ax.set_xticks(xs)
    ax.legend(fontsize=8, title="★ paper", title_fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def _heatmap(ax, values, rows_labels, cols_labels, title, fmt="{:.2f}"):
    image = ax.imshow(values, cmap="Blues")
    ax.set_xticks(range(len(cols_labels)), cols_labels)
    ax.set_yticks(range(len(rows_labels)), rows_labels)
    ax.set_title(title, fontsize=9)
    finite = values[np.isfinite(values)]
    middle = (finite.min() + finite.max()) / 2 if finite.size else 0
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            if np.isfinite(values[i, j]):
                ax.text(j, i, fmt.format(values[i, j]), ha="center",
                        va="center", fontsize=8,
                        color="white" if values[i, j] > middle else "black")
    return image


def _grid(plt, rows, report, experiment):
    qs = sorted({r["y"] for r in rows})
    ps = sorted({r["x"] for r in rows})
    ours = np.full((len(qs), len(ps)), np.nan)
    paper = np.full_like(ours, np.nan)
    for r in rows:
        i, j = qs.index(r["y"]), ps.index(r["x"])
        ours[i, j] = _mean(r, "weighted_f1")
        paper[i, j] = (r["paper"] or {}).get("weighted_f1") or np.nan
    panels = [(ours, "test weighted F1 (mean over seeds)")]
    if np.isfinite(paper).any():
        panels.append((paper, "paper (Table 7)"))
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.2),
                             squeeze=False)
    for ax, (values, title) in zip(axes[0], panels):
        fig.colorbar(_heatmap(ax, values, [f"q_base {q}" for q in qs],
                              [f"p_exe {p}" for p in ps], title), ax=ax)
    return fig


def _confusions(plt, rows, report, experiment):
    fig, axes = plt.subplots(1, len(rows), figsize=(4.6 * len(rows), 4.4),
                             squeeze=False)
    classes = report.get("classes") or []
    for ax, r in zip(axes[0], rows):
        cm = np.array(r["confusion"] if r["confusion"] is not None
                      else [[np.nan]], dtype=float)
        names = classes if len(classes) == len(cm) else \
            [str(i) for i in range(len(cm))]
        _heatmap(ax, cm, names, names, f"{r['label']}\n(test, summed over "
                 f"{len(r['seeds'])} seeds)", fmt="{:.0f}")
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.tick_params(axis="x", labelrotation=45)
    return fig


def _noise(plt, rows, report, experiment):
    cells = list(dict.fromkeys(r["cell"] for r in rows))
    levels = [c.x for c in experiment.conditions]
    values = np.full((2 * len(cells), len(levels)), np.nan)
    labels = []
    for i, cell in enumerate(cells):
        for k, key in enumerate(("accuracy", "weighted_f1")):
            labels.append(f"{cell} {'wa-ACC' if k == 0 else 'wa-F1'}")
            for r in rows:
                if r["cell"] == cell and r["x"] in levels:
                    values[2 * i + k, levels.index(r["x"])] = _mean(r, key)
    fig, ax = plt.subplots(figsize=(1.0 * len(levels) + 3,
                                    0.6 * len(labels) + 1.8))
    fig.colorbar(_heatmap(ax, values, labels, [str(v) for v in levels],
                          "test, mean over seeds and noise seeds"), ax=ax)
    ax.set_xlabel(experiment.axis)
    return fig


def _overhead(plt, rows, report, experiment):
    fig, axes = plt.subplots(1, len(OVERHEAD_METRICS),
                             figsize=(3.2 * len(OVERHEAD_METRICS), 3.8))
    for ax, (key, label) in zip(axes, OVERHEAD_METRICS):
        ax.bar(range(len(rows)), [_mean(r, key, 1.0) for r in rows],
               yerr=[_std(r, key, 1.0) for r in rows], capsize=3)
        ax.set_xticks(range(len(rows)), [r["cell"] for r in rows],
                      fontsize=8, rotation=30)
        ax.set_title(label, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    return fig
