"""Where ``dsgdn bench`` writes its results, checked before any timing.

A full benchmark runs for minutes; an output location that cannot take its
files must be refused first, not after the measurements are lost.
"""

import platform
import re
from pathlib import Path
from typing import Sequence

from dsgdn_pyg.io import check_writable

#: The files a benchmark writes into its output folder.
RESULT_FILES = ("results.json", "table.txt", "plot.png")


def check_output_folder(out: Path, what: str = "--out",
                        files: Sequence[str] = RESULT_FILES) -> None:
    """Raises a one-line ``ValueError`` naming :obj:`what` and :obj:`out`
    unless :obj:`out` can hold a benchmark's :obj:`files`: a writable
    folder (created if needed) that is new, empty or an earlier
    benchmark's (it holds one of :obj:`files`), where none of
    :obj:`files` is a folder. Another folder's files are never mixed with
    results (``--out .`` in a source tree is refused)."""
    out = Path(out)
    check_writable(out, what, directory=True)
    if not out.is_dir():
        return
    for name in files:
        if (out / name).exists() and not (out / name).is_file():
            raise ValueError(f"{what} {out}: {out / name} is not a regular "
                             f"file; expected a folder where the benchmark "
                             f"can write {name}")
    if any(out.iterdir()) and not any((out / n).is_file() for n in files):
        raise ValueError(f"{what} {out}: holds other files and no "
                         f"benchmark results ({', '.join(files)}); expected "
                         f"a new or empty folder, or one an earlier `dsgdn "
                         f"bench` wrote")


def default_out_dir(device, suffix: str = "") -> Path:
    """``benchmarks/results/<device>[-suffix]`` for a :obj:`torch.device`:
    ``cpu-<cpu model>`` or ``cuda-<gpu name>``, lower case, dashes for
    anything else."""
    if device.type == "cuda":
        import torch  # here only: the CLI checks --out before torch loads
        name = "cuda-" + torch.cuda.get_device_name(device)
    else:
        name = "cpu-" + cpu_model()
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return Path("benchmarks") / "results" / (slug + (f"-{suffix}" if suffix
                                                     else ""))


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"
