"""What the layer suite reports: every layer's time and peak memory as a
ratio to ``GATConv`` measured in the same run, the issue's goals for
``DiffGATConv``, the table and the bar plot."""

import io
from pathlib import Path
from typing import List, Optional, Tuple

from dsgdn_pyg.bench.layer_goals import key_ratios, ratio
from dsgdn_pyg.bench.layer_suite import LAYER_TITLES, MODES
from dsgdn_pyg.io import atomic_write


def format_ratio(row: dict) -> str:
    if row["value"] is None:
        return "not measured" + (f" ({row['note']})" if row["note"] else "")
    text = f"{row['value']:.2f}x"
    if row["goal"] is not None:
        text += f" (goal <= {row['goal']:.1f}x): " + (
            "met" if row["met"] else "NOT met")
    return text


HEADER = ["case", "nodes", "edges", "layer", "f+b ms", "x GAT", "inf ms",
          "x GAT", "f+b MiB", "x GAT", "inf MiB"]


def table_rows(result: dict) -> Tuple[List[str], List[List[str]]]:
    """Header and rows (one per case and layer; one for a case not run)."""
    rows = []
    for case in result.get("cases", []):
        if case.get("status") != "ok":
            rows.append([case.get("name", "?"), "", "", case.get("status"),
                         case.get("note", "")] + [""] * (len(HEADER) - 5))
            continue
        for layer, modes in case["results"].items():
            fb, inf = (modes.get(m, {}) for m in MODES)
            rows.append([
                case["name"], f"{case['nodes']:,}", f"{case['edges']:,}",
                LAYER_TITLES.get(layer, layer), _ms(fb),
                _x(ratio(case, layer, "forward_backward")), _ms(inf),
                _x(ratio(case, layer, "inference")), _mb(fb),
                _x(ratio(case, layer, "forward_backward", "memory")),
                _mb(inf)])
    return HEADER, rows


def _ms(m: dict) -> str:
    if not m:
        return ""
    if m.get("status") != "ok":
        return m.get("status", "")
    return f"{m['median_ms']:,.1f}"


def _mb(m: dict) -> str:
    return "" if not m or m.get("peak_mb") is None else \
        f"{m['peak_mb']:,.1f}"


def _x(value: Optional[float]) -> str:
    return "" if value is None else f"{value:.2f}"


def title(result: dict) -> str:
    env = result.get("environment", {})
    return (f"One layer, DiffGATConv vs PyG's attention convolutions; "
            f"{env.get('device')}: {env.get('gpu') or env.get('cpu_model')}, "
            f"{env.get('torch_threads')} threads, torch {env.get('torch')}, "
            f"PyG {env.get('torch_geometric')} (f+b: forward+backward, inf: "
            f"inference, x GAT: ratio to GATConv in the same run)")


def notes(result: dict) -> List[str]:
    lines = []
    for case in result.get("cases", []):
        if case.get("sampler"):
            lines.append(f"{case['name']}: {case['graphs']} mini-batches of "
                         f"{case['seeds_per_batch']} seeds from a "
                         f"{case['full_nodes']:,}-node, "
                         f"{case['full_edges']:,}-edge graph via "
                         f"{case['sampler']}" +
                         (f" ({case['note']})" if case.get("note") else ""))
    if result.get("isolated"):
        lines.append("each case ran in a fresh process")
    for row in key_ratios(result):
        lines.append(f"{row['case']}: DiffGATConv / GATConv "
                     f"forward+backward {row['metric']}: {format_ratio(row)}")
    return lines


def format_table(result: dict) -> str:
    """The table, the notes and the key ratios as plain text."""
    header, rows = table_rows(result)
    widths = [max(len(r[i]) for r in [header] + rows if i < len(r))
              for i in range(len(header))]
    lines = [title(result), ""]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
              for r in [header] + rows]
    lines.append("")
    lines += notes(result)
    return "\n".join(lines) + "\n"


def plot(result: dict, path: Path) -> None:
    """Bars of each layer's forward+backward time, inference time and
    forward+backward peak memory relative to GATConv, per case. Needs
    matplotlib (the ``bench`` extra)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("the plot needs matplotlib: pip install "
                          "'dsgdn-pyg[bench]'") from None
    cases = [c for c in result.get("cases", []) if c.get("status") == "ok"]
    layers = list(result.get("config", {}).get("layers", LAYER_TITLES))
    panels = [("forward_backward", "time", "forward+backward time"),
              ("inference", "time", "inference time"),
              ("forward_backward", "memory", "forward+backward peak memory")]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    width = 0.8 / max(len(layers), 1)
    for ax, (mode, metric, label) in zip(axes, panels):
        for j, layer in enumerate(layers):
            values = [ratio(c, layer, mode, metric) or 0.0 for c in cases]
            ax.bar([i + (j - (len(layers) - 1) / 2) * width
                    for i in range(len(cases))], values, width,
                   label=LAYER_TITLES.get(layer, layer))
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_xticks(range(len(cases)), [c["name"] for c in cases])
        ax.set_title(f"{label} / GATConv's")
        ax.set_ylabel("ratio to GATConv (lower is better)")
        ax.grid(True, axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    env = result.get("environment", {})
    fig.suptitle(f"one layer vs GATConv ({env.get('gpu') or env.get('cpu_model')}"
                 f", {env.get('torch_threads')} threads)")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    atomic_write(path, lambda f: f.write(buffer.getvalue()))
