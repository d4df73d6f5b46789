"""Per-utterance visual vectors from ``.npy`` files.

Face or scene features come from tools outside this package (the IEMOCAP
bundles carry 342-d DenseNet vectors), so the visual modality only loads one
1-D vector per utterance and checks its width and values.
"""

import os
from typing import Dict, Union

import numpy as np

from dsgdn_pyg.errors import DataError

VISUAL_DIM = 342


def load_visual(path: Union[str, os.PathLike], dim: int = VISUAL_DIM
                ) -> np.ndarray:
    """The vector in ``path`` as ``float32 [dim]``; raises
    :class:`~dsgdn_pyg.errors.DataError` (naming the file) unless it is a
    pickle-free ``.npy`` of ``dim`` finite real numbers."""
    expected = f"expected a .npy file of {dim} finite numbers, shape ({dim},)"
    try:
        with open(path, "rb") as file:
            magic = file.read(6)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file; {expected}") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc}); "
                        f"{expected}") from None
    if magic != b"\x93NUMPY" and not magic.startswith(b"PK"):
        raise DataError(f"{path}: cannot load (not a .npy file: no NumPy "
                        f"header); "
                        f"{expected}")
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file; {expected}") from None
    except (OSError, ValueError, EOFError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() \
            else type(exc).__name__
        if "allow_pickle" in first:  # never unpickled: it could run code
            first = "it holds pickled Python objects, which are not loaded"
        raise DataError(f"{path}: cannot load ({first}); {expected}") \
            from None
    if not isinstance(array, np.ndarray):  # an .npz archive
        array.close()
        raise DataError(f"{path}: is an .npz archive; {expected}")
    if array.dtype.kind not in "biuf":
        raise DataError(f"{path}: holds dtype {array.dtype}; {expected}")
    if array.ndim != 1:
        raise DataError(f"{path}: has shape {tuple(array.shape)}; "
                        f"{expected}")
    if array.shape[0] != dim:
        raise DataError(f"{path}: has width {array.shape[0]}; {expected}")
    with np.errstate(over="ignore"):  # too large for float32: caught below
        vector = array.astype(np.float32)
    if not np.isfinite(vector).all():
        bad = int((~np.isfinite(vector)).sum())
        raise DataError(f"{path}: holds {bad} non-finite value(s) "
                        f"(NaN/inf, or too large for float32); {expected}")
    return vector


class VisualLoader:
    """Loads per-utterance visual vectors of width ``dim`` (see
    :func:`load_visual`), with the interface of the other extractors."""

    extractor = "npy"

    def __init__(self, dim: int = VISUAL_DIM):
        if int(dim) < 1:
            raise ValueError(f"visual dim: expected an integer >= 1, got "
                             f"{dim}")
        self.dim = int(dim)

    @property
    def metadata(self) -> Dict[str, str]:
        """The entry of ``features.json``."""
        return {"extractor": self.extractor}

    @property
    def settings(self) -> Dict[str, Union[str, int]]:
        """What determines the vectors, for the cache key."""
        return {**self.metadata, "dim": self.dim}

    def encode_file(self, path: Union[str, os.PathLike]) -> np.ndarray:
        """The vector of one utterance, ``float32 [dim]``."""
        return load_visual(path, self.dim)
