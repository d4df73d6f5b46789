"""Errors of dsgdn-pyg and the checks behind the one-line messages: number
ranges, comma-separated lists, options that exclude each other."""

import math
import re
from typing import List


class DataError(ValueError):
    """Bad input data: the message is one line naming the file, the dialogue
    or field, and what was expected. The CLI prints it and exits with 2."""


class MissingExtraError(ImportError):
    """An optional dependency is not installed: the message names the
    ``pip install "dsgdn-pyg[extra]"`` that brings it. The CLI prints it and
    exits with 2."""


class TrainingDiverged(RuntimeError):
    """A loss or a parameter became non-finite (NaN or infinite) during
    training: the run stops, its last finite checkpoint stays the best. The
    CLI prints the one-line message and exits with 3."""


class Terminated(BaseException):
    """SIGTERM (``kill``, or a batch scheduler's stop), raised by the
    ``dsgdn`` command where the process is, as Ctrl-C raises
    :class:`KeyboardInterrupt`: the temporaries of atomic writes go and
    locks are released on the way out. The CLI prints one line and exits
    with 143, as a shell reports a process stopped by SIGTERM."""


def raise_terminated(signum, frame) -> None:
    """A SIGTERM handler raising :class:`Terminated`."""
    raise Terminated()


SEED_MAX = 2 ** 63 - 1


def check_number(option: str, value, low=None, high=None, *,
                 low_open: bool = False, high_open: bool = False,
                 integer: bool = False) -> None:
    """Raises a one-line :class:`ValueError` naming :obj:`option` when
    :obj:`value` is not a finite number within ``[low, high]`` (the ends
    open where asked), or not an integer when :obj:`integer`."""
    if integer:
        ok = isinstance(value, int) and not isinstance(value, bool)
        kind = "an integer"
    else:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) \
            and math.isfinite(value)
        kind = "a finite number"
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if ok:
        return
    bounds = ""
    if low is not None and high is not None:
        bounds = (f" in {'(' if low_open else '['}{low}, {high}"
                  f"{')' if high_open else ']'}")
    elif low is not None:
        bounds = f" {'>' if low_open else '>='} {low}"
    elif high is not None:
        bounds = f" {'<' if high_open else '<='} {high}"
    raise ValueError(f"{option}: expected {kind}{bounds}, got {value!r}")


def parse_list(option: str, text: str, what: str = "names") -> List[str]:
    """``"a,b"`` -> ``["a", "b"]``; an empty list or an empty item
    (``''``, ``a,,b``, ``a,``) is a one-line ``ValueError`` naming
    :obj:`option`, never read as "none given" or skipped."""
    items = [item.strip() for item in str(text).split(",")]
    if not all(items):
        raise ValueError(f"{option}: expected comma-separated {what} with "
                         f"no empty item, got {text!r}")
    return items


def parse_int_list(option: str, text: str, distinct: bool = False
                   ) -> List[int]:
    """``"1,2,3"`` -> ``[1, 2, 3]``, refusing empty items, non-integers and
    (with :obj:`distinct`) repeats."""
    kind = "distinct integers" if distinct else "integers"
    items = parse_list(option, text, kind)
    try:
        values = [int(v) for v in items]
    except ValueError:
        raise ValueError(f"{option}: expected comma-separated {kind}, got "
                         f"{text!r}") from None
    if distinct and len(set(values)) != len(values):
        raise ValueError(f"{option}: expected comma-separated {kind}, got "
                         f"{text!r} (an item twice)")
    return values


def refuse_together(first: str, given_first: bool, second: str,
                    given_second: bool, why: str) -> None:
    """A one-line ``ValueError`` naming both options when two options that
    contradict each other (or one that means nothing with the other) are
    both given: ``"--resume and --overwrite: <why>"``."""
    if given_first and given_second:
        raise ValueError(f"{first} and {second}: {why}")


def check_device_name(option: str, name) -> None:
    """A one-line ``ValueError`` naming :obj:`option` unless :obj:`name`
    reads as a device the library runs on: ``auto``, ``cpu`` or
    ``cuda[:N]``. Whether that device is present is for torch to say, once
    it is imported."""
    if not (isinstance(name, str)
            and re.fullmatch(r"auto|(cpu|cuda)(:\d+)?", name)):
        raise ValueError(f"{option}: expected auto, cpu or cuda[:N], got "
                         f"{name!r}")
