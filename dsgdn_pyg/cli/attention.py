"""``dsgdn attention``: a trained run's attention maps over one dialogue."""

from pathlib import Path

import typer

from dsgdn_pyg.cli.common import console, user_errors


def attention(
    run_dir: Path = typer.Argument(..., help="A run directory of `dsgdn "
                                   "train` (one seed's: of a run of several "
                                   "seeds, its seed-N sub-directory), graph "
                                   "layer diff."),
    dialogue_id: str = typer.Argument(..., help="Id of a dialogue of the "
                                      "run's data (any split)."),
    out: Path = typer.Option(..., "--out", help="Figure to write, .png, "
                             ".pdf or .svg (replaced if it exists; outside "
                             "the run directory; checked before any work)."),
) -> None:
    """Draw the positive, negative and differential attention of each
    DiffRGCN block (inter- then intra-speaker, per modality) over the
    utterances of one dialogue, speakers and labels on the axes (the
    paper's Sec. 4.5)."""
    from dsgdn_pyg.experiments.plots import figure_format, require_matplotlib
    from dsgdn_pyg.io import check_not_input, check_writable
    from dsgdn_pyg.training.run_dir import check_run_dir

    with user_errors():
        # All before torch and PyG are imported, and the model is run.
        check_run_dir(run_dir)
        check_writable(out, "--out")
        check_not_input(out, "--out",
                        folders=[("the run directory", run_dir)])
        figure_format(out)
        require_matplotlib()
        from dsgdn_pyg.experiments.attention import (dialogue_attention,
                                                     plot_attention)
        maps = dialogue_attention(run_dir, dialogue_id)
        plot_attention(maps, out)
    for block in maps["blocks"]:
        lam = ", ".join(f"{v:.3f}" for v in block["lam"])
        console.print(f"{block['modality']} {block['block']}: lambda per "
                      f"head {lam}")
    console.print(f"wrote {out} ({len(maps['utterances'])} utterances, "
                  f"{maps['split']} split)")


def register(app: typer.Typer) -> None:
    app.command("attention")(attention)
