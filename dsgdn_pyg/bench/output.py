"""Where a benchmark suite writes its results, checked before any work: a
run that measures for minutes and then cannot write its files is wasted, and
``--out README.md`` must not replace a file that is not a benchmark's."""

import os
import re
import tempfile
from pathlib import Path
from typing import Sequence

import torch

#: The files every suite writes into its output folder.
RESULT_FILES = ("results.json", "table.txt", "plot.png")


def check_output_dir(path: Path, option: str = "--out",
                     files: Sequence[str] = RESULT_FILES) -> Path:
    """Returns :obj:`path` when a suite can write :obj:`files` into it, and
    raises :class:`ValueError` (one line naming :obj:`option`) otherwise:
    when it is an existing file or a non-empty folder that holds no earlier
    results (``results.json``), when one of :obj:`files` there is not a
    regular file, or when the nearest existing folder above it does not
    accept a new file (read-only, ``/proc``, no permission). Nothing is
    left behind by the check."""
    path = Path(path)
    where = f"{option}: {path}"
    if path.exists() and not path.is_dir():
        raise ValueError(f"{where} exists and is not a folder (expected a "
                         f"folder for {', '.join(files)})")
    if path.is_dir():
        entries = [p.name for p in path.iterdir()]
        if entries and files[0] not in entries:
            raise ValueError(f"{where} is a non-empty folder without "
                             f"{files[0]}, not a benchmark's results folder; "
                             f"name a new or an earlier results folder")
        for name in files:
            target = path / name
            if target.exists() and not target.is_file():
                raise ValueError(f"{where}: {name} there is not a regular "
                                 f"file")
    parent = path
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"{where}: {parent} is not a folder")
    try:
        fd, probe = tempfile.mkstemp(dir=parent, prefix=".bench-probe-")
    except OSError as exc:
        raise ValueError(f"{where} is not writable ({parent}: "
                         f"{exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(probe)
    return path


def default_out_dir(device: torch.device, suffix: str = "") -> Path:
    """``benchmarks/results/<device>[-suffix]``: ``cpu-<cpu model>`` or
    ``cuda-<gpu name>``, lower case, dashes for anything else."""
    from dsgdn_pyg.bench.suite import cpu_model

    if device.type == "cuda":
        name = "cuda-" + torch.cuda.get_device_name(device)
    else:
        name = "cpu-" + cpu_model()
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return Path("benchmarks") / "results" / (slug + (f"-{suffix}" if suffix
                                                     else ""))
