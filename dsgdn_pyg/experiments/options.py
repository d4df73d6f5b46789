"""`dsgdn train` options as an experiment's settings: its base
configuration and each of its cells are overrides of the request (the
options of :data:`~dsgdn_pyg.training.options.SWEEP_OPTIONS`, declared with
every other `dsgdn train` option in :mod:`dsgdn_pyg.training.options`),
read once from command-line words where they are written as such."""

from pathlib import Path
from typing import Dict, Tuple

from dsgdn_pyg.io import check_corpus_path
from dsgdn_pyg.training.options import (SWEEP_OPTIONS,  # noqa: F401
                                        as_overrides, parse_options,
                                        to_options)
from dsgdn_pyg.training.request import request_from_options, settings

#: flag -> (setting, type) of every option an experiment may set.
OPTIONS: Dict[str, Tuple[str, type]] = {
    flag: (o.key, o.value_type) for flag, o in SWEEP_OPTIONS.items()}


def check_settings(overrides: dict, what: str) -> None:
    """Checks every option of a configuration of an experiment as
    :func:`~dsgdn_pyg.training.request.settings` does for a run, the message
    led by :obj:`what` (the device is not: an executor's workers may have
    another), and that its data exists, so that a bad value fails before
    anything is written."""
    request = request_from_options(overrides, seeds=[0], out=Path("."))
    try:
        if request.data is not None:
            check_corpus_path(request.data, "--data")
        settings(request)
    except ValueError as exc:
        raise type(exc)(f"{what}: {exc}") from None
