"""The options of an evaluation (`dsgdn evaluate` and the experiments'
test-time conditions), checked without torch or PyG, so that a bad value
is refused before those are imported."""

from typing import Optional

from dsgdn_pyg.errors import check_number

#: The splits a run can be evaluated on.
SPLITS = ("train", "valid", "test")


def check_split(split: str) -> None:
    """Raises a one-line :class:`ValueError` unless :obj:`split` is one of
    :data:`SPLITS`."""
    if split not in SPLITS:
        raise ValueError(f"--split: expected one of {', '.join(SPLITS)}, "
                         f"got {split!r}")


def check_conditions(noise: float = 0.0, min_length: Optional[int] = None,
                     max_length: Optional[int] = None) -> None:
    """The options of a test-time condition, checked before any data is
    read: a finite noise fraction >= 0 (NaN or infinity would silently
    turn every feature into NaN) and length bounds >= 1, min <= max."""
    check_number("--noise", noise, 0)
    for option, value in (("--min-length", min_length),
                          ("--max-length", max_length)):
        if value is not None:
            check_number(option, value, 1, integer=True)
    if min_length is not None and max_length is not None and \
            min_length > max_length:
        raise ValueError(f"--min-length and --max-length: expected min <= "
                         f"max, got {min_length} > {max_length}")
