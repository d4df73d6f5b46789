"""``dsgdn bench``: sparse DiffRGCN vs the dense-adjacency baseline;
``dsgdn bench layers``: DiffGATConv vs PyG's attention convolutions."""

import json
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from dsgdn_pyg.cli.common import console, err_console, user_errors
from dsgdn_pyg.errors import parse_int_list


def _int_list(option: str, text: Optional[str]) -> Optional[List[int]]:
    return None if text is None else parse_int_list(option, text)


def _stale_plot(out_dir: Path) -> str:
    from dsgdn_pyg.bench.output import remove_stale
    return "; the earlier plot.png is removed" if remove_stale(
        out_dir, "plot.png") else ""


def _refuse_options_before(ctx: typer.Context) -> None:
    """``dsgdn bench --out X layers``: the options before the subcommand
    are the block benchmark's, which does not run; Click would drop them
    silently and the suite run with its defaults (e.g. into its default
    folder)."""
    # By name: Typer's parameter sources need not be click's own enum.
    sources = {param.opts[0]: ctx.get_parameter_source(param.name)
               for param in ctx.command.params}
    given = [opt for opt, source in sources.items() if source is not None
             and source.name not in ("DEFAULT", "DEFAULT_MAP")]
    if given:
        with user_errors():
            name = ctx.invoked_subcommand
            raise ValueError(f"{', '.join(given)}: given before `{name}`, "
                             f"which takes its own options; put them after "
                             f"it (dsgdn bench {name} --help)")


def bench(
    ctx: typer.Context,
    quick: bool = typer.Option(
        False, "--quick", help="A subset (3 lengths, w=5, 3 repeats, a "
        "small end-to-end epoch) that runs in under two minutes on CPU."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    out: Optional[Path] = typer.Option(
        None, help="Output folder for results.json, table.txt and plot.png "
        "(default: benchmarks/results/<device>[-quick]): new or empty, or "
        "with --overwrite an earlier benchmark's; checked before any "
        "timing."),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace the results of an earlier "
        "benchmark in --out (without it such a folder is refused, so that "
        "committed results are never replaced unasked)."),
    lengths: Optional[str] = typer.Option(
        None, help="Dialogue lengths L of the sweep, e.g. 16,110,2048 "
        "(default: 16,32,64,110,256,512,1024,2048,4096)."),
    windows: Optional[str] = typer.Option(
        None, help="Windows w of the sweep, e.g. 5,20 (default: 5,20)."),
    repeats: Optional[int] = typer.Option(
        None, help="Timed repeats per measurement (median reported; "
        "default 10, quick 3)."),
    warmup: Optional[int] = typer.Option(
        None, help="Untimed calls before timing (default 2, quick 1)."),
    channels: int = typer.Option(512, help="Hidden width d_h."),
    heads: int = typer.Option(2, help="Attention heads per block."),
    e2e: bool = typer.Option(
        True, "--e2e/--no-e2e", help="Also time one training epoch of the "
        "full model, sparse against dense."),
    huge: Optional[bool] = typer.Option(
        None, "--huge/--no-huge", help="Also run one 100,000-utterance "
        "dialogue through the sparse block, in its own process (default: "
        "on, off with --quick)."),
    iemocap: Optional[Path] = typer.Option(
        None, help="IEMOCAP metadata (iemocap.pkl) for the realistic "
        "batch lengths (default: $DSGDN_DATA/iemocap/iemocap.pkl, "
        "skipped with a note when absent)."),
    isolate: bool = typer.Option(
        False, help="Run every case in its own process."),
    seed: int = typer.Option(0, help="Seed of inputs and weights."),
    threads: Optional[int] = typer.Option(
        None, help="torch intra-op threads (default: torch's choice)."),
) -> None:
    """Benchmark the sparse DiffRGCN block against the dense padded
    formulation (and PyG's GATConv) over dialogue lengths and windows.
    `dsgdn bench layers` benchmarks single layers instead."""
    if ctx.invoked_subcommand is not None:
        _refuse_options_before(ctx)
        return
    from dsgdn_pyg.bench.config import HUGE_LENGTH, BenchConfig, quick_config
    from dsgdn_pyg.bench.output import check_output_folder, default_out_dir

    with user_errors():
        overrides = dict(
            lengths=_int_list("--lengths", lengths),
            windows=_int_list("--windows", windows), repeats=repeats,
            warmup=warmup, device=device, channels=channels, heads=heads,
            e2e=e2e, iemocap=str(iemocap) if iemocap else None,
            isolate=isolate, seed=seed, threads=threads)
        if quick:
            config = quick_config(**overrides)
        else:
            config = BenchConfig(**{k: v for k, v in overrides.items()
                                    if v is not None})
        if huge is False:
            config.huge_length = None
        elif huge and config.huge_length is None:  # --quick --huge
            config.huge_length = HUGE_LENGTH
        out_dir = out
        if out_dir is not None:  # checked before torch and PyG load
            check_output_folder(out_dir, overwrite=overwrite)
        from dsgdn_pyg.bench import run_benchmark
        from dsgdn_pyg.bench.suite import resolve_device
        if out_dir is None:  # named after the device, once torch says
            out_dir = default_out_dir(resolve_device(device),
                                      "quick" if quick else "")
            check_output_folder(out_dir, overwrite=overwrite)  # first
        result = run_benchmark(
            config, progress=lambda line: console.print(line,
                                                        highlight=False))

    from dsgdn_pyg.bench.report import (format_ratio, format_table,
                                        key_ratios, table_rows, write_json)
    from dsgdn_pyg.bench.report import plot as plot_result
    from dsgdn_pyg.io import atomic_write_text
    header, rows = table_rows(result)
    env = result.environment
    table = Table(title=f"DiffRGCN block, d={config.channels}, "
                  f"{config.heads} heads; {env['device']}: "
                  f"{env.get('gpu') or env['cpu_model']}, "
                  f"{env['torch_threads']} threads (f+b: forward+backward)")
    for col in header:
        table.add_column(col, justify="left" if col in ("case", "layer")
                         else "right", no_wrap=col == "case",
                         overflow="fold")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    for ratio in key_ratios(result):
        colour = {True: "green", False: "red"}.get(ratio["met"], "white")
        console.print(f"[{colour}]{ratio['target']}: "
                      f"{format_ratio(ratio)}[/]", highlight=False)

    for note in result.skipped:
        err_console.print(f"[yellow]not run:[/] {note}", highlight=False)
    write_json(result, out_dir / "results.json")
    atomic_write_text(out_dir / "table.txt", format_table(result) + "\n")
    try:
        plot_result(result, out_dir / "plot.png")
    except ImportError as exc:
        err_console.print(f"[yellow]no plot:[/] {exc}"
                          + _stale_plot(out_dir), highlight=False)
    console.print(f"results: [bold]{out_dir}[/]")


def layers(
    quick: bool = typer.Option(
        False, "--quick", help="Smaller random graphs (10,000 nodes / "
        "100,000 edges; mini-batches of a 100,000-node graph), 3 repeats."),
    cases: Optional[str] = typer.Option(
        None, help="Comma-separated cases (default: "
        "cora,random-100k,tolokers,sampled-1m)."),
    layer_names: Optional[str] = typer.Option(
        None, "--layers", help="Comma-separated layers, gat among them "
        "(default: gat,gatv2,transformer,diff)."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    out: Optional[Path] = typer.Option(
        None, help="Output folder for results.json, table.txt and plot.png "
        "(default: benchmarks/results/<device>-layers[-quick]): new or "
        "empty, or with --overwrite an earlier benchmark's; checked before "
        "any timing."),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace the results of an earlier "
        "benchmark in --out (without it such a folder is refused)."),
    repeats: Optional[int] = typer.Option(
        None, help="Timed repeats per measurement (median reported; "
        "default 10, quick 3)."),
    warmup: Optional[int] = typer.Option(
        None, help="Untimed calls before timing (default 2, quick 1)."),
    isolate: Optional[bool] = typer.Option(
        None, "--isolate/--no-isolate", help="Each case in a fresh process "
        "(default: on CPU, for its own memory peak)."),
    planetoid: Optional[Path] = typer.Option(
        None, help="Folder holding Cora/raw/ (default: "
        "$DSGDN_DATA/planetoid; the case is not run when absent)."),
    tolokers: Optional[Path] = typer.Option(
        None, help="tolokers.npz of Platonov et al. 2023 (default: "
        "$DSGDN_DATA/heterophilous/tolokers.npz; not run when absent)."),
    seed: int = typer.Option(0, help="Seed of graphs, inputs and weights."),
    threads: Optional[int] = typer.Option(
        None, help="torch intra-op threads (default: torch's choice)."),
) -> None:
    """Benchmark DiffGATConv against PyG's GATConv, GATv2Conv and
    TransformerConv, one layer at the same widths and heads: forward+backward
    and inference time (median of repeats) and peak memory, on Cora, a
    100k-node / 1M-edge random graph, tolokers and mini-batches of a 1M-node
    graph."""
    from dsgdn_pyg.bench.layer_config import LayerSuiteConfig
    from dsgdn_pyg.bench.output import check_output_folder, default_out_dir

    with user_errors():
        values = dict(repeats=repeats, warmup=warmup, device=device,
                      isolate=isolate, seed=seed, threads=threads)
        if quick:
            values.update(random_nodes=10_000, random_edges=100_000,
                          sampled_nodes=100_000, sampled_edges=1_000_000,
                          repeats=3 if repeats is None else repeats,
                          warmup=1 if warmup is None
                          else warmup, max_seconds=5.0)
        if cases is not None:
            values["cases"] = [c.strip() for c in cases.split(",")
                               if c.strip()]
        if layer_names is not None:
            values["layers"] = [c.strip() for c in layer_names.split(",")
                                if c.strip()]
        for option, path, kind in (("--planetoid", planetoid, "folder"),
                                   ("--tolokers", tolokers, "file")):
            if path is not None and not (path.is_dir() if kind == "folder"
                                         else path.is_file()):
                raise ValueError(f"{option}: {path} is not an existing "
                                 f"{kind}")
        values.update(planetoid_root=str(planetoid) if planetoid else None,
                      tolokers=str(tolokers) if tolokers else None)
        config = LayerSuiteConfig(**{k: v for k, v in values.items()
                                     if v is not None})
        out_dir = out
        if out_dir is not None:  # checked before torch and PyG load
            check_output_folder(out_dir, overwrite=overwrite)
        from dsgdn_pyg.bench.layer_suite import run_layer_suite
        from dsgdn_pyg.bench.suite import resolve_device
        if out_dir is None:  # named after the device, once torch says
            out_dir = default_out_dir(resolve_device(device), "layers" + (
                "-quick" if quick else ""))
            check_output_folder(out_dir, overwrite=overwrite)  # first
        result = run_layer_suite(config, progress=lambda line: console.print(
            line, highlight=False))

    from dsgdn_pyg.bench.layer_report import (format_ratio, format_table,
                                              key_ratios, notes, plot,
                                              table_rows, title)
    from dsgdn_pyg.io import atomic_write_text
    header, rows = table_rows(result)
    table = Table(title=title(result))
    for col in header:
        table.add_column(col, justify="left" if col in ("case", "layer")
                         else "right", no_wrap=col == "case")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    for line in notes(result)[:-len(key_ratios(result)) or None]:
        console.print(line, highlight=False)
    for row in key_ratios(result):
        colour = {True: "green", False: "red"}.get(row["met"], "white")
        console.print(f"[{colour}]{row['case']}: DiffGATConv / GATConv "
                      f"forward+backward {row['metric']}: "
                      f"{format_ratio(row)}[/]", highlight=False)
    for case in result["cases"]:
        if case.get("status") != "ok":
            err_console.print(f"[yellow]{case['status']}:[/] {case['name']}: "
                              f"{case.get('note', '')}", highlight=False)
    with user_errors():
        atomic_write_text(out_dir / "results.json",
                          json.dumps(result, indent=1) + "\n")
        atomic_write_text(out_dir / "table.txt", format_table(result))
        try:
            plot(result, out_dir / "plot.png")
        except ImportError as exc:
            err_console.print(f"[yellow]no plot:[/] {exc}"
                              + _stale_plot(out_dir), highlight=False)
    console.print(f"results: [bold]{out_dir}[/]")


bench_app = typer.Typer(help=bench.__doc__, add_completion=False)
bench_app.callback(invoke_without_command=True)(bench)
bench_app.command("layers")(layers)


def register(app: typer.Typer) -> None:
    app.add_typer(bench_app, name="bench")
