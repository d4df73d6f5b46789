"""Where `dsgdn predict` writes, checked before any work and before torch
is imported: the predictions file and the feature cache, neither of them
an input."""

import os
from pathlib import Path
from typing import Optional, Union

from dsgdn_pyg.errors import DataError
from dsgdn_pyg.features.manifest import read_manifest
from dsgdn_pyg.io import (TEMPORARY, check_not_input, check_writable,
                          is_within)

PathLike = Union[str, os.PathLike]


#: The file that marks a folder as a feature cache of
#: :meth:`dsgdn_pyg.predict.Predictor.predict`.
CACHE_MARK = "dsgdn-predict-cache.json"


def check_feature_cache(folder: PathLike, what: str = "--features-dir"
                        ) -> None:
    """Raises a one-line ``ValueError`` unless :obj:`folder` can be the
    feature cache of :meth:`~dsgdn_pyg.predict.Predictor.predict`: a
    writable directory path that does not exist yet, is empty, or holds a
    cache that an earlier call made (its :data:`CACHE_MARK`). Any other
    folder, above all a feature folder of ``dsgdn features`` or a training
    data folder, is refused: prediction never rewrites an existing folder."""
    folder = Path(folder)
    check_writable(folder, what, directory=True)
    if not folder.is_dir() or (folder / CACHE_MARK).is_file():
        return
    others = sorted(p.name for p in folder.iterdir()
                    if not TEMPORARY.match(p.name))
    if others:
        raise ValueError(
            f"{what} {folder}: holds files that are not a `dsgdn predict` "
            f"feature cache (e.g. {others[0]}); an existing folder is never "
            f"rewritten: give a new folder, or one an earlier "
            f"--features-dir filled")


def check_prediction_outputs(run_dir: PathLike, manifest: PathLike,
                             out: PathLike,
                             features_dir: Optional[PathLike] = None
                             ) -> None:
    """The outputs of a prediction, checked before any work: :obj:`out`
    must be a writable file path that is none of the inputs (the manifest,
    an audio or visual file it names, the feature cache) and lies outside
    the run directory and the feature cache; :obj:`features_dir` must pass
    :func:`check_feature_cache` and lie outside the run directory. One-line
    ``ValueError`` naming the option and the path given (a bad manifest is
    left to the prediction to report)."""
    out = Path(out)
    run = ("the run directory", Path(run_dir))
    check_writable(out, "--out")
    try:
        dialogues = read_manifest(manifest, check_files=False)
    except DataError:
        dialogues = []  # said by the prediction itself, after the run
    media = [(f"the {kind} file of dialogue {d.dialogue_id!r}, utterance "
              f"{i}", getattr(u, kind)) for d in dialogues
             for i, u in enumerate(d.utterances)
             for kind in ("audio", "visual") if getattr(u, kind)]
    check_not_input(out, "--out", inputs=[("the manifest", Path(manifest)),
                                          ("--features-dir", features_dir),
                                          *media],
                    folders=[run])
    if features_dir is not None:
        if is_within(out, Path(features_dir)):
            raise ValueError(
                f"--out {out}: lies inside --features-dir {features_dir}, "
                f"the feature cache, which holds only features; expected a "
                f"path outside it")
        check_feature_cache(features_dir)
        check_not_input(Path(features_dir), "--features-dir",
                        inputs=[("the manifest", Path(manifest))],
                        folders=[run])
