"""Imports of optional dependencies that name the extra to install.

The feature extractors need heavy packages (sentence-transformers, opensmile)
that the model itself does not, so they live in extras. :func:`require_extra`
checks for them without importing (importing sentence-transformers alone
takes seconds, wasted when every dialogue is cached); :func:`import_extra`
imports them when an extractor first runs.
"""

import importlib
import importlib.util
from types import ModuleType

from dsgdn_pyg.errors import MissingExtraError


def _missing(module: str, extra: str) -> MissingExtraError:
    return MissingExtraError(
        f"the '{extra}' features need the Python package '{module}', which "
        f"is not installed; install it with: pip install "
        f"\"dsgdn-pyg[{extra}]\"")


def require_extra(module: str, extra: str) -> None:
    """Raises :class:`MissingExtraError` unless the top-level ``module`` is
    installed; does not import it."""
    if importlib.util.find_spec(module) is None:
        raise _missing(module, extra)


def import_extra(module: str, extra: str) -> ModuleType:
    """Imports ``module`` or raises :class:`MissingExtraError` telling the
    user to ``pip install "dsgdn-pyg[extra]"``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise _missing(getattr(exc, "name", None) or module, extra) from exc
