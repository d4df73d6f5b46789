"""Mean +- std over seeds, and a cell's difference from the default cell
with a 95% t-interval over the seeds both have (paired by seed)."""

import math
from typing import Dict, Optional

import numpy as np


def mean_std(values) -> Optional[dict]:
    """``{mean, std (sample), n}`` or ``None`` for no values."""
    values = np.asarray(list(values), dtype=float)
    if values.size == 0:
        return None
    return dict(mean=float(values.mean()),
                std=float(values.std(ddof=1)) if values.size > 1 else 0.0,
                n=int(values.size))


def paired_difference(cell: Dict[int, float], default: Dict[int, float],
                      level: float = 0.95) -> Optional[dict]:
    """The mean of ``cell[s] - default[s]`` over the seeds in both, with
    its :obj:`level` t-interval (``low``/``high`` ``None`` below two
    seeds); ``significant`` when the interval excludes 0."""
    seeds = sorted(set(cell) & set(default))
    if not seeds:
        return None
    diffs = np.array([cell[s] - default[s] for s in seeds], dtype=float)
    out = dict(mean=float(diffs.mean()), n=len(seeds), seeds=seeds,
               low=None, high=None, significant=False)
    if len(seeds) > 1:
        from scipy import stats  # 1 s to import: only for an interval

        half = float(stats.t.ppf(0.5 + level / 2, len(seeds) - 1)
                     * diffs.std(ddof=1) / math.sqrt(len(seeds)))
        out.update(low=out["mean"] - half, high=out["mean"] + half)
        out["significant"] = bool(out["low"] > 0 or out["high"] < 0)
    return out
