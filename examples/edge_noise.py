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
import random
import sys
import time
from pathlib import Path
from typing import List, Optional

import torch
from torch_geometric.data import Data
from torch_geometric.utils import add_random_edge

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cora import (DEFAULT_ROOT, LAYERS, add_recipe_options,  # noqa: E402
                  load_cora, missing_planetoid, run)
from study_cli import (RESULTS, Progress, add_out_options,  # noqa: E402
                       check_out, command, fail, int_list, mean_std,
                       name_list, number, pyplot, require_matplotlib,
                       save_png, study_epilog)

STUDY_LAYERS = ("gat", "gatv2", "diff")
TITLES = {"gat": "GATConv", "gatv2": "GATv2Conv",
          "diff": "DiffGATConv (defaults: norm=False, act=False)"}
NAMES = ("Cora", "CiteSeer", "PubMed")


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
    # add_random_edge adds at most as many edges as there are: in steps,
    # each of whole undirected pairs, until less than one pair is missing.
    while target - edge_index.size(1) >= 2:
        p = min(1.0, (target - edge_index.size(1)) / edge_index.size(1))
        edge_index, _ = add_random_edge(edge_index, p=p,
                                        force_undirected=True,
                                        num_nodes=data.num_nodes)
    out = data.clone()
    out.edge_index = edge_index
    return out


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
    """Accuracy against the share of extra edges, one line per layer."""
    plt = pyplot()
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
    save_png(fig, path)


def main(argv: Optional[List[str]] = None) -> dict:
    parser = argparse.ArgumentParser(
        prog="edge_noise.py", description=__doc__.split("\n\n")[0],
        epilog=study_epilog("noise levels", "every level is done",
                            "a missing dataset"))
    parser.add_argument("--dataset", default="Cora", choices=NAMES,
                        help="the Planetoid graph (default: Cora)")
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT,
                        help="folder holding <dataset>/raw/ (default: "
                        "$DSGDN_DATA/planetoid)")
    parser.add_argument("--noise", default="0,50,100,200",
                        help="comma-separated extra edges in %% of the "
                        "graph's edges, integers >= 0, each once (default: "
                        "0,50,100,200)")
    parser.add_argument("--noise-seed", type=number(int, 0), default=12345,
                        help="seed of the random edges, an integer >= 0; "
                        "the same noisy graphs for every layer and seed "
                        "(default: 12345)")
    add_recipe_options(parser, "comma-separated training seeds, integers "
                       ">= 0, each once (default: 0-9)")
    parser.add_argument("--layers", default=",".join(STUDY_LAYERS),
                        help=f"comma-separated, each once, from "
                        f"{', '.join(LAYERS)} (default: "
                        f"{','.join(STUDY_LAYERS)})")
    add_out_options(parser, "output folder (default: "
                    "results/edge-noise-<dataset> of the repository, which "
                    "holds the committed results: refused there without "
                    "--overwrite)")
    args = parser.parse_args(argv)
    noise = int_list(parser, "--noise", args.noise)
    seeds = int_list(parser, "--seeds", args.seeds)
    layers = name_list(parser, "--layers", args.layers, list(LAYERS))
    out = args.out or RESULTS / f"edge-noise-{args.dataset.lower()}"
    check_out(parser, out, args.overwrite)
    message = missing_planetoid(args.root, args.dataset, "edge_noise.py")
    if message:
        fail(message)
    require_matplotlib("edge_noise.py")

    progress = Progress("edge_noise.py", out, len(noise), "noise levels")
    with progress:
        data = load_cora(args.root, args.dataset, "edge_noise.py")
        pairs = data.num_nodes * (data.num_nodes - 1)
        if data.num_edges * (1 + max(noise) / 100) > pairs:
            parser.error(f"--noise: {max(noise)} % would need more edges "
                         f"than {args.dataset}'s {pairs:,} ordered node "
                         f"pairs; expected at most "
                         f"{100 * (pairs / data.num_edges - 1):.0f}")
        progress.clear()
        result = dict(dataset=args.dataset, noise_percent=noise,
                      noise_seed=args.noise_seed, seeds=seeds,
                      epochs=args.epochs, layers=layers, accuracy={},
                      summary={}, edges={}, seconds={})
        for i, p in enumerate(noise):
            graph = noisy_graph(data, p, args.noise_seed)
            result["edges"][str(p)] = int(graph.num_edges)
            for layer in layers:
                start = time.perf_counter()
                accs = [run(graph, layer, seed, args.epochs)
                        for seed in seeds]
                result["accuracy"].setdefault(layer, {})[str(p)] = accs
                result["summary"].setdefault(layer, {})[str(p)] = \
                    mean_std(accs)
                result["seconds"].setdefault(layer, {})[str(p)] = round(
                    time.perf_counter() - start, 1)
                s = result["summary"][layer][str(p)]
                print(f"+{p:3d} % edges  {TITLES.get(layer, layer):36s} "
                      f"{s['mean']:.1f} +- {s['std']:.1f} %  "
                      f"({result['seconds'][layer][str(p)]:.0f} s)",
                      flush=True)
            progress.save({**result, "noise_percent": noise[:i + 1]})
        progress.finish(result, table_md, plot)
    print(f"results: {out}")
    return result


def cli(argv: Optional[List[str]] = None) -> int:
    """:func:`main` as a command: Ctrl-C prints one line, status 130."""
    return command(main, argv, "edge_noise.py: interrupted; nothing written")


if __name__ == "__main__":
    sys.exit(cli())
