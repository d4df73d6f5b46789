"""What a benchmark run reports: the key ratios against the targets, table
rows, the JSON file and the log-log plot of time and memory against L."""

import io
import json
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from dsgdn_pyg.io import atomic_write, atomic_write_text

#: Memory the 100,000-utterance dialogue may use (forward+backward, CPU).
HUGE_MEMORY_LIMIT_MB = 8 * 1024


def _result(record: dict, layer: str, mode: str) -> Optional[dict]:
    return record.get("results", {}).get(layer, {}).get(mode)


def _median(record: dict, layer: str, mode: str) -> Optional[float]:
    m = _result(record, layer, mode)
    return m.get("median_ms") if m and m.get("status") == "ok" else None


def time_ratio(record: dict, slow: str = "dense", fast: str = "sparse",
               mode: str = "forward_backward") -> Optional[float]:
    """``time(slow) / time(fast)`` of one case, or :obj:`None`."""
    a, b = _median(record, slow, mode), _median(record, fast, mode)
    return a / b if a and b else None


def _find(workloads: List[dict], kind: str, length: Optional[int] = None,
          window: Optional[int] = None, batch_size: Optional[int] = None
          ) -> Optional[dict]:
    for w in workloads:
        if w.get("kind") != kind or "results" not in w:
            continue
        if length is not None and w.get("length") != length:
            continue
        if window is not None and w.get("window") != window:
            continue
        if batch_size is not None and w.get("batch_size") != batch_size:
            continue
        return w
    return None


def key_ratios(result) -> List[dict]:
    """The issue's targets, each with the measured value and whether it is
    met (:obj:`None` when the case did not run). Forward+backward, dense
    time over sparse time, measured side by side in one run."""
    data = result if isinstance(result, dict) else result.__dict__
    workloads = data.get("workloads", [])
    env = data.get("environment", {})
    gpu = bool(env.get("gpu"))
    rows = []

    def add(name: str, value: Optional[float], target: Optional[float],
            unit: str = "x", below: bool = False, note: str = ""):
        met = None
        if value is not None and target is not None:
            met = value <= target if below else value >= target
        rows.append(dict(target=name, value=value, threshold=target,
                         unit=unit, met=met, note=note))

    iemocap = _find(workloads, "iemocap")
    add("IEMOCAP batches of 16, w=20: dense / sparse",
        time_ratio(iemocap) if iemocap else None, 1.0 if gpu else 1.5)
    uniform = _find(workloads, "sweep", 110, 20, 16)
    add("uniform B=16, L=110, w=20: dense / sparse",
        time_ratio(uniform) if uniform else None, None if gpu else 1.0)
    for length, target in ((2048, 5.0), (4096, 10.0)):
        case = _find(workloads, "sweep", length, 5)
        add(f"L={length}, w=5: dense / sparse",
            time_ratio(case) if case else None, target)
    huge = [w for w in workloads if w.get("kind") == "huge"]
    for case in huge:
        m = _result(case, "sparse", "forward_backward") or {}
        peak = m.get("process_peak_mb") or m.get("peak_mb")
        add(f"{case.get('length')} utterances, w={case.get('window')}: "
            f"sparse forward+backward process peak", peak,
            None if gpu else HUGE_MEMORY_LIMIT_MB, unit="MiB", below=True)
    e2e = data.get("e2e") or {}
    e2e_ratio = None
    if e2e.get("status") == "ok":
        res = e2e["results"]
        if res["sparse"].get("median_ms") and res["dense"].get("median_ms"):
            e2e_ratio = res["dense"]["median_ms"] / res["sparse"]["median_ms"]
    add("end-to-end training epoch: dense / sparse", e2e_ratio,
        None if gpu else 2.0,
        note="" if e2e.get("status") in (None, "ok") else e2e.get("note", ""))
    if e2e.get("status") == "ok" and "no_graph" in e2e["results"]:
        base = e2e["results"]["no_graph"].get("median_ms")
        sparse = e2e["results"]["sparse"].get("median_ms")
        if base and sparse:
            add("end-to-end: epoch without graph blocks / sparse epoch",
                base / sparse, None,
                note="the share neither layout changes")
    for case in (uniform, iemocap):
        if case is not None and time_ratio(case, "sparse", "gat"):
            add(f"{case['name']}: DiffRGCN / GATConv block (Table 8)",
                time_ratio(case, "sparse", "gat"), None)
    return rows


def busy(record: dict, cores: Optional[int]) -> bool:
    """Whether the machine had more runnable work than cores while the case
    ran (its times are then inflated; a case marked ``*`` in the table)."""
    loads = [v for v in (record.get("load_before"), record.get("load_after"))
             if v is not None]
    return bool(cores and loads and max(loads) > cores + 0.5)


def table_rows(result) -> Tuple[List[str], List[List[str]]]:
    """Header and rows of the per-case table (one row per case and layer);
    a case run while the machine was busy is marked ``*``."""
    data = result if isinstance(result, dict) else result.to_dict()
    cores = data.get("environment", {}).get("cpu_cores")
    header = ["case", "B", "utts", "layer", "fwd ms", "f+b ms",
              "f+b MiB", "f+b utt/s", "dense/sparse"]
    rows = []
    for w in data.get("workloads", []):
        if "results" not in w:
            rows.append([w.get("name", "?"), "", "", "error",
                         w.get("error", ""), "", "", "", ""])
            continue
        ratio = time_ratio(w)
        for layer, modes in w["results"].items():
            fwd, fb = modes.get("forward", {}), modes.get("forward_backward",
                                                          {})
            rows.append([
                w["name"] + (" *" if busy(w, cores) else ""),
                str(w["batch_size"]), str(w["utterances"]),
                layer, _fmt_ms(fwd), _fmt_ms(fb), _fmt(fb.get("peak_mb")),
                _fmt(fb.get("utterances_per_s"), 0),
                f"{ratio:.2f}" if layer == "dense" and ratio else ""])
    e2e = data.get("e2e") or {}
    if e2e.get("status") == "ok":
        for layer, m in e2e["results"].items():
            rows.append(["e2e epoch", "16", str(e2e["utterances"]), layer,
                         "", _fmt_ms(m), _fmt(m.get("peak_mb")),
                         _fmt(m.get("utterances_per_s"), 0), ""])
    return header, rows


def _fmt(value, digits: int = 1) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def _fmt_ms(m: dict) -> str:
    if not m:
        return ""
    if m.get("status") != "ok":
        return m.get("status", "")
    return _fmt(m.get("median_ms"), 1)


def format_table(result) -> str:
    """The per-case table and the key ratios as plain text."""
    header, rows = table_rows(result)
    widths = [max(len(r[i]) for r in [header] + rows)
              for i in range(len(header))]
    lines = ["  ".join(c.ljust(wd) for c, wd in zip(header, widths))]
    lines += ["  ".join(c.ljust(wd) for c, wd in zip(r, widths))
              for r in rows]
    lines.append("")
    if any(r[0].endswith(" *") for r in rows):
        lines.append("* the machine was busy with other work during this "
                     "case (load average above the core count)")
    for w in data_workloads(result):
        if w.get("dense_note"):
            lines.append(f"{w.get('name')}: {w['dense_note']}")
    for r in key_ratios(result):
        lines.append(f"{r['target']}: {format_ratio(r)}")
    return "\n".join(lines)


def data_workloads(result) -> List[dict]:
    data = result if isinstance(result, dict) else result.to_dict()
    return data.get("workloads", [])


def format_ratio(row: dict) -> str:
    """``"5.31x (target >= 5.0x): met"``-style text of a key ratio row."""
    if row["value"] is None:
        return "not measured" + (f" ({row['note']})" if row["note"] else "")
    unit = row["unit"]
    text = (f"{row['value']:.2f}{unit}" if unit == "x" else
            f"{row['value']:,.0f} {unit}")
    if row["threshold"] is not None:
        op = "<=" if unit != "x" else ">="
        thr = (f"{row['threshold']:.1f}{unit}" if unit == "x" else
               f"{row['threshold']:,.0f} {unit}")
        text += f" (target {op} {thr}): " + ("met" if row["met"] else
                                             "NOT met")
    return text


def write_json(result, path: Path) -> None:
    """Writes the result as JSON, atomically."""
    data = result if isinstance(result, dict) else result.to_dict()
    atomic_write_text(path, json.dumps(data, indent=1) + "\n")


def plot(result, path: Path) -> None:
    """Log-log plot of forward+backward time and peak memory against L
    (sweep cases), one line per layer and window. Needs matplotlib (the
    ``bench`` extra)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("the plot needs matplotlib: pip install "
                          "'dsgdn-pyg[bench]'") from None
    data = result if isinstance(result, dict) else result.to_dict()
    series: Dict[tuple, List[tuple]] = {}
    for w in data.get("workloads", []):
        if w.get("kind") not in ("sweep", "huge") or "results" not in w:
            continue
        for layer, modes in w["results"].items():
            m = modes.get("forward_backward", {})
            if m.get("status") == "ok":
                # Per utterance, so that batches of different sizes compare.
                series.setdefault((layer, w["window"]), []).append(
                    (w["length"], m["median_ms"] / w["utterances"] * 1e3,
                     m["peak_mb"] / w["utterances"] * 1024))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    styles = {"sparse": "-o", "dense": "--s", "gat": ":^"}
    for (layer, window), points in sorted(series.items()):
        points.sort()
        xs = [p[0] for p in points]
        label = f"{layer}, w={window}"
        axes[0].plot(xs, [p[1] for p in points], styles.get(layer, "-"),
                     label=label)
        axes[1].plot(xs, [p[2] for p in points], styles.get(layer, "-"),
                     label=label)
    env = data.get("environment", {})
    where = env.get("gpu") or env.get("cpu_model", "")
    axes[0].set_title("forward+backward time per utterance")
    axes[0].set_ylabel("microseconds / utterance")
    axes[1].set_title("peak memory per utterance (forward+backward)")
    axes[1].set_ylabel("KiB / utterance")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("dialogue length L (utterances)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"DiffRGCN block, d=512, 2 heads: sparse vs dense vs GAT "
                 f"({where})")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    atomic_write(path, lambda f: f.write(buffer.getvalue()))
