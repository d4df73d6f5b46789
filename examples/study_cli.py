"""The command-line pieces that ``cora.py``, ``edge_noise.py`` and
``heterophily.py`` share, written once so that every script answers bad
input with the same one-line messages: option types and comma-separated
lists, the exit for bad input argparse cannot see, and the Ctrl-C entry
point; for the two studies also the ``--out`` check, the progress file of
an unfinished run and the files of a finished one.

Not an example to run: the scripts put this folder on ``sys.path`` and
import it, as ``edge_noise.py`` imports the recipe of ``cora.py``.
"""

import argparse
import importlib.util
import io
import json
import math
import statistics
import sys
from pathlib import Path
from typing import Callable, List, Optional

from dsgdn_pyg.io import atomic_write, atomic_write_text, check_writable

#: The files of a finished study, and the progress file of an unfinished one.
OUTPUTS = ("results.json", "table.md", "plot.png")
PARTIAL = "results.partial.json"
#: The repository's ``results/``, where the studies' default ``--out`` is.
RESULTS = Path(__file__).resolve().parents[1] / "results"


def fail(message: str) -> None:
    """Bad input that argparse cannot see (a missing dataset): the one-line
    :obj:`message` on stderr and exit status 2, as for a bad option."""
    print(message, file=sys.stderr)
    raise SystemExit(2)


def number(kind, low, high=None, low_open=False, high_open=False):
    """An ``argparse`` type: a finite :obj:`kind` (``int`` or ``float``) in
    the interval from :obj:`low` to :obj:`high` (open ends as told)."""
    name = "an integer" if kind is int else "a number"
    left = ("> " if low_open else ">= ") + f"{low:g}"
    bound = left if high is None else \
        f"{left} and {'<' if high_open else '<='} {high:g}"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {name}; expected {name} {bound}") from None
        if not math.isfinite(value) or value < low or \
                (low_open and value == low) or \
                (high is not None and (value > high or
                                       (high_open and value == high))):
            raise argparse.ArgumentTypeError(
                f"{text} is out of range; expected {name} {bound}")
        return value

    return parse


def comma_list(parser: argparse.ArgumentParser, option: str, text: str,
               parse: Callable[[str], object], what: str,
               at_least: str) -> list:
    """The comma-separated items of :obj:`option`, each read by
    :obj:`parse` (which calls ``parser.error`` on a bad one), empty items
    skipped; ``parser.error`` naming :obj:`option` for an item given twice
    (each :obj:`what` once) or none at all (at least one :obj:`at_least`).
    """
    values = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        value = parse(item)
        if value in values:
            parser.error(f"{option}: {value!r} is given twice; expected each "
                         f"{what} once")
        values.append(value)
    if not values:
        parser.error(f"{option}: expected at least one {at_least}, got "
                     f"{text!r}")
    return values


def int_list(parser: argparse.ArgumentParser, option: str, text: str,
             low: int = 0, high: Optional[int] = None,
             example: str = "0,1,2") -> List[int]:
    """The comma-separated integers of :obj:`option`, each once and in
    ``[low, high]``; ``parser.error`` naming :obj:`option` otherwise (a
    non-integer's message shows :obj:`example`)."""
    def parse(item: str) -> int:
        try:
            value = int(item)
        except ValueError:
            parser.error(f"{option}: {item!r} is not an integer; expected "
                         f"comma-separated integers, e.g. {example}")
        if value < low or (high is not None and value > high):
            bound = f">= {low}" if high is None else f"in {low}-{high}"
            parser.error(f"{option}: {value} is out of range; expected "
                         f"integers {bound}")
        return value

    return comma_list(parser, option, text, parse, "value",
                      "comma-separated integer")


def name_list(parser: argparse.ArgumentParser, option: str, text: str,
              choices) -> List[str]:
    """The comma-separated names of :obj:`option`, each once and one of
    :obj:`choices`; ``parser.error`` naming :obj:`option` otherwise."""
    def parse(item: str) -> str:
        if item not in choices:
            parser.error(f"{option}: unknown {item!r}; expected "
                         f"comma-separated names from {', '.join(choices)}")
        return item

    return comma_list(parser, option, text, parse, "name",
                      f"of {', '.join(choices)}")


def mean_std(values: List[float]) -> dict:
    """The mean and (sample) standard deviation of fractions, in %; the
    std of one value is 0."""
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return dict(mean=100 * statistics.mean(values), std=100 * std)


def study_epilog(parts: str, all_done: str, missing: str) -> str:
    """A study's ``--help`` epilog: what ``--out`` holds while it runs
    (:class:`Progress`, its :obj:`parts` finished so far) and once
    :obj:`all_done`, and the exit statuses (2 for a bad option, ``--out``
    or :obj:`missing`)."""
    return (f"While the study runs, {PARTIAL} in --out holds the {parts} "
            f"finished so far; {', '.join(OUTPUTS)} are written (and an "
            f"earlier run's replaced) only once {all_done}, and {PARTIAL} "
            f"is then removed. Exit status: 0 done, 2 a bad option, --out "
            f"or {missing}, 130 interrupted (Ctrl-C).")


def folder_path(text: str) -> Path:
    """An ``argparse`` type: a non-empty path (``''`` would be the current
    folder, beside whatever else is there)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a folder, got ''")
    return Path(text)


def add_out_options(parser: argparse.ArgumentParser, out_help: str) -> None:
    """A study's ``--out`` (help :obj:`out_help`) and ``--overwrite``."""
    parser.add_argument("--out", type=folder_path, default=None,
                        help=out_help)
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the results already in --out (they "
                        "are replaced only once the new run has finished)")


def check_out(parser: argparse.ArgumentParser, out: Path,
              overwrite: bool) -> None:
    """Refuses (``parser.error``, before any training) an ``--out`` that
    cannot be a writable folder, or one that already holds results (a
    finished run's :data:`OUTPUTS` or an unfinished one's :data:`PARTIAL`)
    unless :obj:`overwrite`. Other files in the folder are left alone."""
    try:
        check_writable(out, "--out", directory=True)
    except ValueError as exc:
        parser.error(str(exc))
    held = [name for name in OUTPUTS + (PARTIAL, ) if (out / name).exists()]
    for name in held:
        if not (out / name).is_file():
            parser.error(f"--out {out}: {out / name} is not a regular file; "
                         f"expected a folder where {name} can be written")
    if held and not overwrite:
        parser.error(f"--out {out}: already holds results ({', '.join(held)})"
                     f"; pass --overwrite to replace them, or another --out")


def require_matplotlib(script: str) -> None:
    """Exits with status 2 and one line, before any training, when the
    ``plot.png`` of a finished study could not be drawn."""
    if importlib.util.find_spec("matplotlib") is None:
        fail(f"{script}: matplotlib is not installed; it draws plot.png "
             f"(pip install matplotlib, or the project's [bench] extra)")


def pyplot():
    """``matplotlib.pyplot`` drawing off-screen (imported only to plot)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save_png(fig, path: Path) -> None:
    """:obj:`fig` laid out, written to :obj:`path` as one atomic PNG (never
    half a plot beside the results), then closed."""
    import matplotlib.pyplot as plt  # loaded already: fig is one of its

    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    atomic_write(path, lambda f: f.write(buffer.getvalue()))


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during the study, with the one line saying what ``--out``
    holds."""


class Progress:
    """A study's output in :obj:`out` as it runs: after each of its
    :obj:`total` parts (:obj:`unit`, e.g. ``"noise levels"``) the parts
    finished so far go to :data:`PARTIAL`, a name no finished run has; only
    :meth:`finish` writes :data:`OUTPUTS`, replacing an earlier run's, so an
    interrupted run leaves those untouched. Used as ``with progress:``, it
    turns Ctrl-C into :class:`Interrupted`, whose line says what is left."""

    def __init__(self, script: str, out: Path, total: int, unit: str):
        self.script, self.out, self.total, self.unit = script, out, total, unit
        self.done = 0

    def clear(self) -> None:
        """``--overwrite``: an earlier unfinished run's progress goes now;
        its finished results only with :meth:`finish`."""
        (self.out / PARTIAL).unlink(missing_ok=True)

    def save(self, partial: dict) -> None:
        """One more part is done: :obj:`partial` (the results so far) with
        ``unfinished`` saying how many, to :data:`PARTIAL`."""
        done = self.done + 1
        partial = {**partial,
                   "unfinished": f"{done} of {self.total} {self.unit}"}
        atomic_write_text(self.out / PARTIAL,
                          json.dumps(partial, indent=1) + "\n")
        self.done = done

    def finish(self, result: dict, table_md: Callable[[dict], str],
               plot: Callable[[dict, Path], None]) -> None:
        """The finished run: ``table.md``, ``plot.png``, then
        ``results.json``; then the progress file goes."""
        atomic_write_text(self.out / "table.md", table_md(result))
        plot(result, self.out / "plot.png")
        atomic_write_text(self.out / "results.json",
                          json.dumps(result, indent=1) + "\n")
        (self.out / PARTIAL).unlink(missing_ok=True)

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, kind, exc, traceback) -> None:
        if kind is None or not issubclass(kind, KeyboardInterrupt):
            return
        if self.done:
            where = (f"{self.out / PARTIAL} holds the {self.done} of "
                     f"{self.total} {self.unit} finished so far")
        else:
            where = f"nothing written to {self.out}"
        raise Interrupted(f"{self.script}: interrupted; {where}") from None


def command(main: Callable[[Optional[List[str]]], object],
            argv: Optional[List[str]], interrupted: str) -> int:
    """``main(argv)`` as a command's exit status: 0 when it returns; on
    Ctrl-C one line on stderr (an :class:`Interrupted`'s own, otherwise
    :obj:`interrupted`) and 130, as a shell reports it."""
    try:
        main(argv)
    except KeyboardInterrupt as exc:
        print(exc.args[0] if isinstance(exc, Interrupted) else interrupted,
              file=sys.stderr)
        return 130
    return 0
