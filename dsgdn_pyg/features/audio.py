"""Utterance audio to openSMILE IS10 paralinguistic functionals (1582-d).

IS10 (the INTERSPEECH 2010 Paralinguistic Challenge set) is the acoustic
feature of IEMOCAP in the feature bundles earlier ERC work distributes. The
``opensmile`` package ships its configuration as ``FeatureSet.IS10``
(``is09-13/IS10_paraling_compat.conf``, numerically compatible with the
original set except for the jitter/shimmer bug fixes of openSMILE 2.1).
Audio is read with soundfile, mixed down to mono and resampled by openSMILE
to 16 kHz, the rate IS10 was designed for, so inputs at any rate give
comparable features.
"""

import os
import warnings
from importlib import metadata
from typing import Dict, Tuple, Union

import numpy as np

from dsgdn_pyg.errors import DataError
from dsgdn_pyg.features.optional import import_extra, require_extra

IS10_DIM = 1582
FEATURE_SET = "IS10_paraling"
SAMPLING_RATE = 16000


class AudioEncoder:
    """Computes the 1582 IS10 functionals of one WAV file (mono or stereo,
    any sample rate) as ``float32 [1582]``.

    Raises :class:`~dsgdn_pyg.errors.DataError` (naming the file) for a file
    soundfile cannot decode, an empty one, or one too short for the IS10
    frames (about 70 ms).
    """

    extractor = "opensmile"
    feature_set = FEATURE_SET
    dim = IS10_DIM

    def __init__(self, sampling_rate: int = SAMPLING_RATE):
        self.sampling_rate = int(sampling_rate)
        for module in ("opensmile", "soundfile"):
            require_extra(module, "audio")
        self.opensmile_version = _version("opensmile")
        self._smile = None

    @property
    def metadata(self) -> Dict[str, str]:
        """The entry of ``features.json``."""
        return {"extractor": self.extractor, "feature_set": self.feature_set}

    @property
    def settings(self) -> Dict[str, Union[str, int]]:
        """What determines the vectors, for the cache key."""
        return {**self.metadata, "sampling_rate": self.sampling_rate,
                "opensmile": self.opensmile_version}

    def _load(self):
        if self._smile is None:
            smile = import_extra("opensmile", "audio")
            self._smile = smile.Smile(
                feature_set=smile.FeatureSet.IS10,
                feature_level=smile.FeatureLevel.Functionals,
                sampling_rate=self.sampling_rate, resample=True)
            if len(self._smile.feature_names) != IS10_DIM:
                raise RuntimeError(
                    f"opensmile's IS10 set has "
                    f"{len(self._smile.feature_names)} features; expected "
                    f"{IS10_DIM}")
        return self._smile

    def read(self, path: Union[str, os.PathLike]) -> Tuple[np.ndarray, int]:
        """The mono ``float32`` signal of ``path`` and its sample rate."""
        soundfile = import_extra("soundfile", "audio")
        try:
            signal, rate = soundfile.read(str(path), dtype="float32",
                                          always_2d=True)
        except Exception as exc:  # soundfile raises several kinds
            first = str(exc).strip().splitlines()[0] if str(exc).strip() \
                else type(exc).__name__
            raise DataError(f"{path}: cannot read the audio ({first}); "
                            f"expected a WAV file") from None
        if signal.shape[0] == 0:
            raise DataError(f"{path}: the audio is empty; expected at least "
                            f"0.1 s of sound")
        return np.ascontiguousarray(signal.mean(axis=1)), int(rate)

    def encode_file(self, path: Union[str, os.PathLike]) -> np.ndarray:
        """The IS10 functionals of one audio file, ``float32 [1582]``."""
        signal, rate = self.read(path)
        return self.encode_signal(signal, rate, source=str(path))

    def encode_signal(self, signal: np.ndarray, sampling_rate: int,
                      source: str = "<signal>") -> np.ndarray:
        """The IS10 functionals of a mono signal, ``float32 [1582]``."""
        with warnings.catch_warnings():  # too short: reported below
            warnings.filterwarnings("ignore", message="Segment too short")
            frame = self._load().process_signal(
                np.asarray(signal, dtype=np.float32), int(sampling_rate))
        values = np.asarray(frame.values, dtype=np.float32).reshape(-1)
        if values.shape != (IS10_DIM, ) or not np.isfinite(values).all():
            seconds = len(signal) / float(sampling_rate)
            raise DataError(f"{source}: openSMILE gave no finite IS10 "
                            f"features for {seconds:.3f} s of audio; "
                            f"expected a recording of at least 0.1 s")
        return values


def _version(distribution: str) -> str:
    """The installed version of ``distribution`` without importing it."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "?"
