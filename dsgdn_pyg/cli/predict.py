"""``dsgdn predict``: emotions of the utterances of a dialogue manifest."""

from pathlib import Path
from typing import Optional

import typer
from rich.progress import (BarColumn, MofNCompleteColumn, Progress,
                           TextColumn, TimeElapsedColumn)
from rich.table import Table

from dsgdn_pyg.cli.common import ProgressHookBar, console, user_errors


def predict(
    run_dir: Path = typer.Argument(..., help="Run directory of `dsgdn "
                                   "train` (its best.pt is used; of a run "
                                   "of several seeds, one seed's seed-N "
                                   "sub-directory)."),
    manifest: Path = typer.Argument(
        ..., help="JSON Lines manifest, one dialogue per line: "
        '{"dialogue_id", "utterances": [{"speaker", "text", "audio", '
        '"visual", "label"}]} (audio, visual, label optional).'),
    out: Path = typer.Option(Path("predictions.jsonl"), help="Where to "
                             "write one JSON line per utterance: never an "
                             "input (the manifest, a file it names) nor a "
                             "path inside the run directory or "
                             "--features-dir."),
    features_dir: Optional[Path] = typer.Option(
        None, help="A feature cache of predict's own: each dialogue's "
        "computed features are kept here and reused on the next call. A new "
        "folder or one an earlier --features-dir filled; any other existing "
        "folder (e.g. a `dsgdn features` folder) is refused, never "
        "rewritten (default: no cache)."),
    text_model: Optional[str] = typer.Option(
        None, help="sentence-transformers model (name or folder) for the "
        "text features, instead of the one the checkpoint records (e.g. a "
        "local copy of it when offline); needed when it records none. "
        "Another model gives features the checkpoint was not trained on."),
    device: str = typer.Option("cpu", help="auto, cpu or cuda."),
    show: int = typer.Option(10, help="Predictions to print (0: none)."),
) -> None:
    """Predict the emotion of every utterance of a manifest, computing the
    missing features with the extractors the checkpoint was trained on.

    It writes --out (atomically) and, with --features-dir, its feature
    cache; nothing else. Every output is checked before any work.

    Speakers keep the ids they had in training; a speaker unseen in
    training takes the lowest id the dialogue's known speakers leave free
    (in order of first appearance), and the number of such dialogues is
    printed."""
    from dsgdn_pyg.errors import check_device_name
    from dsgdn_pyg.prediction_outputs import check_prediction_outputs
    from dsgdn_pyg.training.run_dir import check_run_dir

    with user_errors():
        # All before torch and PyG are imported, and the model is read.
        if show < 0:
            raise ValueError(f"--show: expected a number of predictions >= 0,"
                             f" got {show}")
        check_device_name("--device", device)
        check_run_dir(run_dir)
        check_prediction_outputs(run_dir, manifest, out, features_dir)
        from dsgdn_pyg.predict import Predictor, write_predictions
        predictor = Predictor.from_run(run_dir, device=device,
                                       text_model=text_model)
        recorded = predictor.recorded_text_model
        if ("text" in predictor.modalities and recorded
                and predictor.text_model != recorded):
            console.print(f"text features from {predictor.text_model} "
                          f"instead of the recorded {recorded}",
                          highlight=False, markup=False, soft_wrap=True)
        with ProgressHookBar(Progress(
                TextColumn("[bold]{task.description}"), BarColumn(),
                MofNCompleteColumn(), TimeElapsedColumn(),
                console=console)) as hook:
            predictions = predictor.predict(manifest,
                                            features_dir=features_dir,
                                            progress=hook)
        write_predictions(out, predictions)

    if show:
        table = Table(title=f"first {min(show, len(predictions))} of "
                      f"{len(predictions)} predictions")
        for col in ("dialogue", "#", "speaker", "emotion", "p", "text"):
            table.add_column(col, overflow="ellipsis", max_width=40)
        for p in predictions[:show]:
            table.add_row(p.dialogue_id, str(p.index), p.speaker, p.emotion,
                          f"{p.probabilities[p.emotion]:.2f}", p.text)
        console.print(table)
    dialogues = {p.dialogue_id for p in predictions}
    unseen = {p.dialogue_id for p in predictions if p.unseen_speaker}
    if unseen:
        console.print(f"{len(unseen)} of {len(dialogues)} "
                      f"dialogues had speakers unseen in training: known "
                      f"speakers kept their ids, unseen ones took the lowest "
                      f"free ids in order of first appearance",
                      highlight=False, soft_wrap=True)
    labelled = [p for p in predictions if p.label is not None]
    if labelled:
        correct = sum(p.label == p.emotion for p in labelled)
        console.print(f"accuracy on the {len(labelled)} labelled "
                      f"utterances: {100 * correct / len(labelled):.2f}")
    console.print(f"wrote {len(predictions)} predictions to [bold]{out}[/]")


def register(app: typer.Typer) -> None:
    app.command("predict")(predict)
