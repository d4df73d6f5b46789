"""A per-dialogue cache of extracted features.

Extraction is slow (a transformer per sentence, openSMILE per recording), and
a run may be interrupted or repeated after adding a few dialogues. Each
finished dialogue is saved as ``<root>/<modality>/<key>.npy``, keyed on
everything its vectors depend on: the dialogue id, the utterance texts or the
input files' contents (a sha256 of their bytes, so a file rewritten with its
old modification time and size still misses) and the extractor settings.
"""

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping, Optional, Union

import numpy as np

from dsgdn_pyg.features.manifest import Dialogue
from dsgdn_pyg.io import atomic_write


def file_digest(path: Union[str, os.PathLike]) -> str:
    """The sha256 of the bytes of ``path``, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def dialogue_key(dialogue: Dialogue, modality: str,
                 settings: Mapping[str, Any]) -> str:
    """The sha256 naming ``dialogue``'s cached ``modality`` features."""
    if modality == "text":
        inputs = [u.text for u in dialogue.utterances]
    else:
        inputs = [file_digest(getattr(u, modality))
                  for u in dialogue.utterances]
    content = {"modality": modality, "settings": dict(settings),
               "dialogue_id": dialogue.dialogue_id, "inputs": inputs}
    blob = json.dumps(content, sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class FeatureCache:
    """Finished dialogues' feature arrays under ``root``; unreadable or
    mis-shaped entries count as misses and are recomputed."""

    def __init__(self, root: Union[str, os.PathLike]):
        self.root = Path(root)

    def path(self, modality: str, key: str) -> Path:
        return self.root / modality / f"{key}.npy"

    def get(self, modality: str, key: str, rows: int) -> Optional[np.ndarray]:
        """The cached ``float32 [rows, D]`` array, or None."""
        path = self.path(modality, key)
        if not path.is_file():
            return None
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None
        if (array.dtype != np.float32 or array.ndim != 2
                or array.shape[0] != rows or not np.isfinite(array).all()):
            return None
        return array

    def put(self, modality: str, key: str, array: np.ndarray) -> None:
        """Saves ``array`` atomically."""
        atomic_write(self.path(modality, key),
                     lambda f: np.save(f, array, allow_pickle=False))
