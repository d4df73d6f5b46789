"""Edge noise: accuracy of GATConv, GATv2Conv and DiffGATConv on a
Planetoid graph (Cora by default) as uniformly random edges are added.

Differential attention subtracts a second attention map from the first
(the paper's Sec. 4.5, Eq. 9-18), which is meant to cancel attention spread
over irrelevant neighbours. Random edges are such neighbours: this study
adds 0, 50, 100 and 200 % extra edges (relative to the graph's own edge
count, PyG's :func:`~torch_geometric.utils.add_random_edge`: undirected,
drawn uniformly among the node pairs not yet linked, one fixed noise seed
so every layer and seed sees the same noisy graphs) and trains each layer
with PyG's GAT recipe of ``examples/cora.py`` (imported from there, not
copied) over 10 seeds. Validation and test nodes keep their labels; only
the graph is perturbed.

``DiffGATConv`` runs with its defaults (``num_relations=None``,
``norm=False``, ``act=False``), the ``diff`` layer of ``cora.py``.

Output: ``--out`` (default ``results/edge-noise-<dataset>``, the committed
evidence of the repository) gets ``results.json``, ``table.md`` and
``plot.png``. Every option, the dataset and ``--out`` are checked before
any training; a folder that already holds results (any of those three
files, or a ``results.partial.json``) is refused unless ``--overwrite`` is
given. While the study runs, the noise levels finished so far are written
to ``results.partial.json`` after each level; only when every level is done
are ``table.md``, ``plot.png`` and then ``results.json`` written (replacing
those of an earlier run) and ``results.partial.json`` removed. So an
interrupted run leaves the earlier run's three files untouched beside its
own ``results.partial.json``, and a folder holding ``results.partial.json``
holds a run that did not finish. Bad options and a missing dataset exit
with status 2 and one line, Ctrl-C with status 130::

    python examples/edge_noise.py --overwrite      # Cora, 10 seeds
    python examples/edge_noise.py --dataset CiteSeer --seeds 0,1
    python examples/edge_noise.py --seeds 0 --epochs 5 --out /tmp/noise
"""

import argparse
import importlib.util
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import torch
from torch_geometric.data import Data
from torch_geometric.utils import add_random_edge

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cora import (DEFAULT_ROOT, LAYERS, fail, int_list,  # noqa: E402
                  load_cora, missing_planetoid, name_list, positive_int, run)

from dsgdn_pyg.io import (atomic_write, atomic_write_text,  # noqa: E402
                          check_writable)

STUDY_LAYERS = ("gat", "gatv2", "diff")
TITLES = {"gat": "GATConv", "gatv2": "GATv2Conv",
          "diff": "DiffGATConv (defaults: norm=False, act=False)"}
NAMES = ("Cora", "CiteSeer", "PubMed")
#: The files of a finished run, and the progress file of an unfinished one.
OUTPUTS = ("results.json", "table.md", "plot.png")
PARTIAL = "results.partial.json"


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during the study, with the one line saying what ``--out``
    holds."""


def noisy_graph(data: Data, percent: float, noise_seed: int) -> Data:
    """:obj:`data` with :obj:`percent` % extra uniformly random undirected
    edges (the same ones for a given seed)."""
    if percent == 0:
        return data
    # PyG's negative sampling behind add_random_edge draws from Python's
    # random module as well as torch's generator: seed both.
    random.seed(noise_seed)
    torch.manual_seed(noise_seed)
    edge_index, target = data.edge_index, data.num_edges * (1 + percent / 100)
    # add_random_edge adds at most as many edges as there are: in steps.
    while edge_index.size(1) < target:
        p = min(1.0, (target - edge_index.size(1)) / edge_index.size(1))
        edge_index, _ = add_random_edge(edge_index, p=p,
                                        force_undirected=True,
                                        num_nodes=data.num_nodes)
    out = data.clone()
    out.edge_index = edge_index
    return out


def summary(values: List[float]) -> Dict[str, float]:
    return dict(mean=100 * statistics.mean(values),
                std=100 * (statistics.stdev(values) if len(values) > 1
                           else 0.0))


def table_md(result: dict) -> str:
    """The accuracy table (mean +- std over seeds, %) as Markdown."""
    noise = result["noise_percent"]
    lines = [f"Test accuracy (%) on {result['dataset']} with extra random "
             f"edges, mean +- std over seeds {result['seeds']} "
             f"({result['epochs']} epochs, PyG's GAT recipe)", "",
             "| layer | " + " | ".join(f"+{p} % edges" for p in noise) +
             " |", "|---|" + "---|" * len(noise)]
    for layer in result["layers"]:
        cells = [f"{c['mean']:.1f} +- {c['std']:.1f}"
                 for c in (result["summary"][layer][str(p)] for p in noise)]
        lines.append(f"| {TITLES.get(layer, layer)} | " + " | ".join(cells) +
                     " |")
    lines.append("")
    lines.append("Edges: " + ", ".join(
        f"+{p} %: {result['edges'][str(p)]:,}" for p in noise) +
        f" (directed; noise seed {result['noise_seed']}).")
    return "\n".join(lines) + "\n"


def plot(result: dict, path: Path) -> None:
    import io

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    noise = result["noise_percent"]
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for layer in result["layers"]:
        cells = [result["summary"][layer][str(p)] for p in noise]
        ax.errorbar(noise, [c["mean"] for c in cells],
                    yerr=[c["std"] for c in cells], marker="o", capsize=3,
                    label=TITLES.get(layer, layer))
    ax.set_xlabel("extra uniformly random edges (% of the graph's edges)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{result['dataset']}: accuracy against edge noise "
                 f"({len(result['seeds'])} seeds)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    atomic_write(path, lambda f: f.write(buffer.getvalue()))


def check_out(parser: argparse.ArgumentParser, out: Path,
              overwrite: bool) -> None:
    """Refuses (``parser.error``, before any training) an ``--out`` that
    cannot be a writable folder, or one that already holds results unless
    :obj:`overwrite`."""
    try:
        check_writable(out, "--out", directory=True)
    except ValueError as exc:
        parser.error(str(exc))
    held = [name for name in OUTPUTS + (PARTIAL, ) if (out / name).exists()]
    for name in held:
        if not (out / name).is_file():
            parser.error(f"--out {out}: {out / name} is not a regular file; "
                         f"expected a folder where {name} can be written")
    if held and not overwrite:
        parser.error(f"--out {out}: already holds results ({', '.join(held)})"
                     f"; pass --overwrite to replace them, or another --out")


def write_results(out: Path, result: dict) -> None:
    """The finished run: ``table.md``, ``plot.png``, then ``results.json``;
    then the progress file goes."""
    atomic_write_text(out / "table.md", table_md(result))
    plot(result, out / "plot.png")
    atomic_write_text(out / "results.json", json.dumps(result, indent=1) + "\n")
    (out / PARTIAL).unlink(missing_ok=True)


def main(argv: Optional[List[str]] = None) -> dict:
    parser = argparse.ArgumentParser(
        prog="edge_noise.py", description=__doc__.split("\n\n")[0],
        epilog=f"While the study runs, {PARTIAL} in --out holds the noise "
        f"levels finished so far; {', '.join(OUTPUTS)} are written (and an "
        f"earlier run's replaced) only once every level is done, and "
        f"{PARTIAL} is then removed. Exit status: 0 done, 2 a bad option, "
        f"--out or a missing dataset, 130 interrupted (Ctrl-C).")
    parser.add_argument("--dataset", default="Cora", choices=NAMES,
                        help="the Planetoid graph (default: Cora)")
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT,
                        help="folder holding <dataset>/raw/ (default: "
                        "$DSGDN_DATA/planetoid)")
    parser.add_argument("--noise", default="0,50,100,200",
                        help="comma-separated extra edges in %% of the "
                        "graph's edges, integers >= 0, each once (default: "
                        "0,50,100,200)")
    parser.add_argument("--noise-seed", type=int, default=12345,
                        help="seed of the random edges, an integer >= 0; "
                        "the same noisy graphs for every layer and seed "
                        "(default: 12345)")
    parser.add_argument("--seeds", default="0,1,2,3,4,5,6,7,8,9",
                        help="comma-separated training seeds, integers >= "
                        "0, each once (default: 0-9)")
    parser.add_argument("--epochs", type=positive_int, default=200,
                        help="training epochs per model, >= 1 (default: "
                        "200)")
    parser.add_argument("--layers", default=",".join(STUDY_LAYERS),
                        help=f"comma-separated, each once, from "
                        f"{', '.join(LAYERS)} (default: "
                        f"{','.join(STUDY_LAYERS)})")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: "
                        "results/edge-noise-<dataset> of the repository, "
                        "which holds the committed results: refused there "
                        "without --overwrite)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the results already in --out (they "
                        "are replaced only once the new run has finished)")
    args = parser.parse_args(argv)
    noise = int_list(parser, "--noise", args.noise)
    seeds = int_list(parser, "--seeds", args.seeds)
    layers = name_list(parser, "--layers", args.layers, list(LAYERS))
    if args.noise_seed < 0:
        parser.error(f"--noise-seed: {args.noise_seed} is out of range; "
                     f"expected an integer >= 0")
    out = args.out or (Path(__file__).resolve().parents[1] / "results" /
                       f"edge-noise-{args.dataset.lower()}")
    check_out(parser, out, args.overwrite)
    message = missing_planetoid(args.root, args.dataset, "edge_noise.py")
    if message:
        fail(message)
    if importlib.util.find_spec("matplotlib") is None:
        fail("edge_noise.py: matplotlib is not installed; it draws plot.png "
             "(pip install matplotlib, or the project's [bench] extra)")

    done = 0
    try:
        data = load_cora(args.root, args.dataset, "edge_noise.py")
        pairs = data.num_nodes * (data.num_nodes - 1)
        if data.num_edges * (1 + max(noise) / 100) > pairs:
            parser.error(f"--noise: {max(noise)} % would need more edges "
                         f"than {args.dataset}'s {pairs:,} ordered node "
                         f"pairs; expected at most "
                         f"{100 * (pairs / data.num_edges - 1):.0f}")
        # --overwrite: an earlier unfinished run's progress is replaced now;
        # its finished results only by write_results.
        (out / PARTIAL).unlink(missing_ok=True)
        result = dict(dataset=args.dataset, noise_percent=noise,
                      noise_seed=args.noise_seed, seeds=seeds,
                      epochs=args.epochs, layers=layers, accuracy={},
                      summary={}, edges={}, seconds={})
        for p in noise:
            graph = noisy_graph(data, p, args.noise_seed)
            result["edges"][str(p)] = int(graph.num_edges)
            for layer in layers:
                start = time.perf_counter()
                accs = [run(graph, layer, seed, args.epochs)
                        for seed in seeds]
                result["accuracy"].setdefault(layer, {})[str(p)] = accs
                result["summary"].setdefault(layer, {})[str(p)] = \
                    summary(accs)
                result["seconds"].setdefault(layer, {})[str(p)] = round(
                    time.perf_counter() - start, 1)
                s = result["summary"][layer][str(p)]
                print(f"+{p:3d} % edges  {TITLES.get(layer, layer):36s} "
                      f"{s['mean']:.1f} +- {s['std']:.1f} %  "
                      f"({result['seconds'][layer][str(p)]:.0f} s)",
                      flush=True)
            # After each noise level, so that an interrupted run keeps its
            # part, under a name no finished run has.
            partial = {**result, "noise_percent": noise[:done + 1],
                       "unfinished": f"{done + 1} of {len(noise)} noise "
                       f"levels"}
            atomic_write_text(out / PARTIAL,
                              json.dumps(partial, indent=1) + "\n")
            done += 1
        write_results(out, result)
    except KeyboardInterrupt:
        if done:
            where = (f"{out / PARTIAL} holds the {done} of {len(noise)} "
                     f"noise levels finished so far")
        else:
            where = f"nothing written to {out}"
        raise Interrupted(f"edge_noise.py: interrupted; {where}") from None
    print(f"results: {out}")
    return result


def cli(argv: Optional[List[str]] = None) -> int:
    """:func:`main` as a command: Ctrl-C prints one line, status 130."""
    try:
        main(argv)
    except KeyboardInterrupt as exc:
        print(exc.args[0] if isinstance(exc, Interrupted) else
              "edge_noise.py: interrupted; nothing written", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(cli())
