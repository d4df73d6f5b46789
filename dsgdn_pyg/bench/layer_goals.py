"""The layer suite's goals for ``DiffGATConv`` and its ratios to
``GATConv`` measured in the same run (forward+backward, CPU): at most 1.0x
``GATConv``'s time on Cora, at most 0.5x its time and peak memory on graphs
of at least a million edges."""

from typing import List, Optional

SMALL_GOAL, LARGE_GOAL, LARGE_EDGES = 1.0, 0.5, 1_000_000

METRICS = {"time": "median_ms", "memory": "peak_mb"}


def measurement(case: dict, layer: str, mode: str) -> Optional[dict]:
    m = case.get("results", {}).get(layer, {}).get(mode)
    return m if m and m.get("status") == "ok" else None


def ratio(case: dict, layer: str, mode: str = "forward_backward",
          metric: str = "time") -> Optional[float]:
    """``layer / GATConv`` of one case's median time or peak memory, or
    :obj:`None` when either is missing."""
    a, b = measurement(case, layer, mode), measurement(case, "gat", mode)
    if not a or not b:
        return None
    x, y = a.get(METRICS[metric]), b.get(METRICS[metric])
    return x / y if x is not None and y else None


def key_ratios(result: dict) -> List[dict]:
    """DiffGATConv / GATConv, forward+backward, against the goals: at most
    1.0x the time on Cora, at most 0.5x the time and the peak memory on
    the cases with at least a million edges per graph (CPU; on a GPU the
    ratios are reported without a goal)."""
    gpu = bool(result.get("environment", {}).get("gpu"))
    rows = []
    for case in result.get("cases", []):
        name = case.get("name")
        large = (case.get("max_edges") or 0) >= LARGE_EDGES
        goals = {"time": SMALL_GOAL} if name == "cora" else \
            {"time": LARGE_GOAL, "memory": LARGE_GOAL} if large else {}
        for metric in ("time", "memory"):
            goal = None if gpu else goals.get(metric)
            value = ratio(case, "diff", "forward_backward", metric) \
                if case.get("status") == "ok" else None
            rows.append(dict(
                case=name, metric=metric, value=value, goal=goal,
                met=None if value is None or goal is None else value <= goal,
                note="" if case.get("status") == "ok" else
                f"{case.get('status')}: {case.get('note', '')}"))
    return rows
