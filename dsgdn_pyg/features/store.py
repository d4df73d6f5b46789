"""The files of a feature directory, each written atomically.

``metadata.pkl`` holds ``[speakers, labels, sentences, train_ids, test_ids,
valid_ids]`` in the layout of the IEMOCAP ``iemocap.pkl`` (plain containers
only, so a restricted unpickler reads it); ``features.json`` names the
classes and, per modality, the width, the extractor and the fingerprint of
the dialogues it was extracted from (:data:`FINGERPRINT`);
``<modality>.npz`` holds one ``float32 [N_utterances, D]`` array per
dialogue id.
"""

import json
import pickle
import zipfile
from pathlib import Path
from typing import Any, Dict, Mapping

import numpy as np

from dsgdn_pyg.errors import DataError
from dsgdn_pyg.io import atomic_write, atomic_write_text

METADATA = "metadata.pkl"
FEATURES_JSON = "features.json"
PICKLE_PROTOCOL = 4
#: The key of a modality's entry in ``features.json`` holding the sha256 of
#: its dialogues' ids, splits, speakers, texts and labels, in order.
FINGERPRINT = "dialogues_sha256"


def npz_name(modality: str) -> str:
    """``text.npz``, ``audio.npz``, ``visual.npz``."""
    return f"{modality}.npz"


def _write_arrays(file, arrays: Mapping[str, np.ndarray]) -> None:
    # The archive np.savez writes, built by hand so that any dialogue id
    # (even "file" or "allow_pickle", savez's own argument names) is a key.
    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_STORED,
                         allowZip64=True) as archive:
        for key, array in arrays.items():
            with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asarray(array),
                                          allow_pickle=False)


def write_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Writes ``arrays`` as an ``.npz`` that ``np.load`` reads back with the
    same keys."""
    atomic_write(path, lambda f: _write_arrays(f, arrays))


def write_metadata(path: Path, metadata: list) -> None:
    """Pickles the six-item metadata list with protocol 4."""
    atomic_write(path, lambda f: pickle.dump(metadata, f,
                                             protocol=PICKLE_PROTOCOL))


def read_features_json(path: Path) -> Dict[str, Any]:
    """The ``features.json`` of an earlier run, or an empty one."""
    if not path.is_file():
        return {"classes": None, "modalities": {}}
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not readable JSON ({exc}); expected the "
                        f"features.json of an earlier run (delete it to "
                        f"start over)") from None
    if not isinstance(info, dict) or \
            not isinstance(info.get("modalities", {}), dict):
        raise DataError(f"{path}: expected an object with 'classes' and "
                        f"'modalities' (delete it to start over)")
    info.setdefault("classes", None)
    info.setdefault("modalities", {})
    return info


def write_features_json(path: Path, info: Mapping[str, Any]) -> None:
    atomic_write_text(path, json.dumps(dict(info), indent=2) + "\n")
