"""A restricted unpickler for data files from elsewhere.

Unpickling runs whatever callable the file names, so a downloaded feature
bundle could execute arbitrary code on load. :func:`safe_load` admits only
the globals that plain containers, numbers, strings and numpy arrays need
(in their Python 2 and 3, numpy 1 and 2 spellings) and refuses everything
else *before* it is imported or called.
"""

import _codecs
import _compat_pickle
import collections
import os
import pickle
from pathlib import Path
from typing import IO, Any, Callable, Dict, Tuple, Union

import numpy as np

from dsgdn_pyg.errors import DataError
from dsgdn_pyg.io import path_problem

try:  # numpy >= 2
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:  # numpy 1.x
    from numpy.core import multiarray as _multiarray
    from numpy.core import numeric as _numeric

# The builtins that pickles rebuild with a call rather than an opcode.
_BUILTINS = {
    "set": set,
    "frozenset": frozenset,
    "complex": complex,
    "slice": slice,
    "bytes": bytes,
    "bytearray": bytearray,
}

#: ``(module, name)`` -> object for every global a safe pickle may name
#: (Python 3 spelling). Objects are looked up here, never imported, so
#: nothing else can run.
ALLOWED_GLOBALS: Dict[Tuple[str, str], Callable] = {
    **{("builtins", k): v for k, v in _BUILTINS.items()},
    ("_codecs", "encode"): _codecs.encode,  # bytes at protocols 0-2
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}
for _module in ("numpy.core", "numpy._core"):  # numpy 1 / numpy 2 names
    ALLOWED_GLOBALS[(f"{_module}.multiarray", "_reconstruct")] = \
        _multiarray._reconstruct
    ALLOWED_GLOBALS[(f"{_module}.multiarray", "scalar")] = _multiarray.scalar
    ALLOWED_GLOBALS[(f"{_module}.numeric", "_frombuffer")] = \
        _numeric._frombuffer

PathOrFile = Union[str, os.PathLike, IO[bytes]]


class RestrictedUnpickler(pickle.Unpickler):
    """A :class:`pickle.Unpickler` whose :meth:`find_class` resolves only
    :data:`ALLOWED_GLOBALS` and raises :class:`DataError` for anything
    else."""

    def __init__(self, file: IO[bytes], source: str = "<stream>",
                 encoding: str = "latin1"):
        super().__init__(file, encoding=encoding)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        # Python 2 spellings (``__builtin__.set``, ``commands.Popen``) as
        # their Python 3 names, as the standard unpickler does.
        module, name = _compat_pickle.NAME_MAPPING.get(
            (module, name), (_compat_pickle.IMPORT_MAPPING.get(module, module),
                             name))
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise DataError(
                f"{self.source}: refusing to unpickle '{module}.{name}': only "
                f"plain containers, numbers, strings and numpy arrays are "
                f"allowed") from None


def safe_load(path_or_file: PathOrFile, encoding: str = "latin1") -> Any:
    """Unpickles a file that may come from an untrusted source.

    Args:
        path_or_file: A path or a binary file object.
        encoding: How Python 2 ``str`` objects are decoded (``"latin1"``
            keeps numpy arrays of Python 2 pickles intact).

    Raises:
        DataError: The file is missing or not a regular file (a directory,
            a device), is not a readable pickle, or names a
            global other than plain containers, numbers, strings and numpy
            arrays (nothing it names is imported or called).
    """
    if isinstance(path_or_file, (str, os.PathLike)):
        source = str(path_or_file)
        problem = path_problem(Path(path_or_file))
        if problem:  # a FIFO or a device might never end
            raise DataError(f"{source}: {problem}; expected a pickle file")
        try:
            with open(path_or_file, "rb") as file:
                return _load(file, source, encoding)
        except PermissionError:
            raise DataError(f"{source}: permission denied") from None
    source = str(getattr(path_or_file, "name", "<stream>"))
    return _load(path_or_file, source, encoding)


def _load(file: IO[bytes], source: str, encoding: str) -> Any:
    try:
        return RestrictedUnpickler(file, source, encoding).load()
    except DataError:
        raise
    except Exception as exc:  # any failure of a corrupt or truncated file
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{source}: not a readable pickle ({reason})") \
            from None
