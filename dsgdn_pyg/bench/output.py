"""Where ``dsgdn bench`` writes its results, checked before any timing.

A full benchmark runs for minutes; an output location that cannot take its
files must be refused first, not after the measurements are lost.
"""

import platform
import re
from pathlib import Path
from typing import Sequence

from dsgdn_pyg.io import TEMPORARY, check_writable

#: The files a benchmark writes into its output folder.
RESULT_FILES = ("results.json", "table.txt", "plot.png")


def check_output_folder(out: Path, what: str = "--out",
                        files: Sequence[str] = RESULT_FILES,
                        overwrite: bool = False) -> None:
    """Raises a one-line ``ValueError`` naming :obj:`what` and :obj:`out`
    unless :obj:`out` can take a benchmark's :obj:`files`: a writable
    folder (created if needed) that is new or empty, or, with
    :obj:`overwrite`, holds only an earlier benchmark's :obj:`files`.
    Earlier results (the committed ones under ``benchmarks/results/`` are
    the default location) are never replaced unasked, and another folder's
    files are never mixed with results (``--out .`` in a source tree is
    refused)."""
    out = Path(out)
    check_writable(out, what, directory=True)
    if not out.is_dir():
        return
    for name in files:
        if (out / name).exists() and not (out / name).is_file():
            raise ValueError(f"{what} {out}: {out / name} is not a regular "
                             f"file; expected a folder where the benchmark "
                             f"can write {name}")
    entries = sorted(p.name for p in out.iterdir()
                     if not TEMPORARY.match(p.name))
    foreign = [name for name in entries if name not in files]
    if foreign:
        shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3
                                          else "")
        raise ValueError(f"{what} {out}: holds files a benchmark does not "
                         f"write ({shown}); expected a new or empty folder, "
                         f"or one holding only an earlier `dsgdn bench`'s "
                         f"{', '.join(files)}")
    if entries and not overwrite:
        raise ValueError(f"{what} {out}: holds an earlier benchmark's "
                         f"results ({', '.join(entries)}); pass --overwrite "
                         f"to replace them, or another {what}")


def remove_stale(out: Path, name: str) -> bool:
    """Removes an earlier run's :obj:`name` in :obj:`out`, which this run
    could not write again (a plot without matplotlib), so that the folder
    never shows one run's plot beside another's numbers. Whether there
    was one."""
    stale = Path(out) / name
    if stale.is_file():
        stale.unlink()
        return True
    return False


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
