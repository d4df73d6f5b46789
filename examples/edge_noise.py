"""Edge noise: accuracy of GATConv, GATv2Conv and DiffGATConv on a
Planetoid graph (Cora by default) as uniformly random edges are added.

Differential attention subtracts a second attention map from the first
(the paper's Eq. 6-7), which is meant to cancel attention spread over
irrelevant neighbours. Random edges are such neighbours: this study adds
0, 50, 100 and 200 % extra edges (relative to the graph's own edge count,
PyG's :func:`~torch_geometric.utils.add_random_edge`: undirected, drawn
uniformly among the node pairs not yet linked, one fixed noise seed so
every layer and seed sees the same noisy graphs) and trains each layer
with PyG's GAT recipe of ``examples/cora.py`` (imported from there, not
copied) over 10 seeds. Validation and test nodes keep their
labels; only the graph is perturbed.

``DiffGATConv`` runs with its defaults (``num_relations=None``,
``norm=False``, ``act=False``), the ``diff`` layer of ``cora.py``.

Writes ``results.json``, ``table.md`` and ``plot.png`` to ``--out``::

    python examples/edge_noise.py                  # Cora, 10 seeds
    python examples/edge_noise.py --dataset CiteSeer --seeds 0,1
"""

import argparse
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
from cora import DEFAULT_ROOT, LAYERS, load_cora, run  # noqa: E402

from dsgdn_pyg.io import atomic_write, atomic_write_text  # noqa: E402

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


def main(argv: Optional[List[str]] = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="Cora", choices=NAMES)
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT,
                        help="folder holding <dataset>/raw/ (default: "
                        "$DSGDN_DATA/planetoid)")
    parser.add_argument("--noise", default="0,50,100,200",
                        help="extra edges in %% of the graph's edges")
    parser.add_argument("--noise-seed", type=int, default=12345)
    parser.add_argument("--seeds", default="0,1,2,3,4,5,6,7,8,9")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--layers", default=",".join(STUDY_LAYERS),
                        help=f"comma-separated, from {sorted(LAYERS)}")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: "
                        "results/edge-noise-<dataset>)")
    args = parser.parse_args(argv)
    try:
        noise = [int(p) for p in args.noise.split(",") if p.strip()]
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--noise and --seeds take comma-separated integers "
                     f"(got {args.noise!r}, {args.seeds!r})")
    layers = [s.strip() for s in args.layers.split(",") if s.strip()]
    bad = [s for s in layers if s not in LAYERS]
    if bad or not layers or not seeds or not noise or min(noise) < 0 or \
            args.epochs < 1:
        parser.error(f"--layers takes {sorted(LAYERS)}, --seeds and --noise "
                     f"at least one value (noise >= 0), --epochs >= 1")
    out = args.out or (Path(__file__).resolve().parents[1] / "results" /
                       f"edge-noise-{args.dataset.lower()}")
    if out.exists() and not out.is_dir():
        parser.error(f"--out: {out} exists and is not a folder")

    data = load_cora(args.root, args.dataset, "edge_noise.py")
    result = dict(dataset=args.dataset, noise_percent=noise,
                  noise_seed=args.noise_seed, seeds=seeds,
                  epochs=args.epochs, layers=layers, accuracy={},
                  summary={}, edges={}, seconds={})
    for p in noise:
        graph = noisy_graph(data, p, args.noise_seed)
        result["edges"][str(p)] = int(graph.num_edges)
        for layer in layers:
            start = time.perf_counter()
            accs = [run(graph, layer, seed, args.epochs) for seed in seeds]
            result["accuracy"].setdefault(layer, {})[str(p)] = accs
            result["summary"].setdefault(layer, {})[str(p)] = summary(accs)
            result["seconds"].setdefault(layer, {})[str(p)] = round(
                time.perf_counter() - start, 1)
            s = result["summary"][layer][str(p)]
            print(f"+{p:3d} % edges  {TITLES.get(layer, layer):36s} "
                  f"{s['mean']:.1f} +- {s['std']:.1f} %  "
                  f"({result['seconds'][layer][str(p)]:.0f} s)", flush=True)
        # After each noise level, so that an interrupted run keeps its part.
        atomic_write_text(out / "results.json",
                          json.dumps(result, indent=1) + "\n")
    atomic_write_text(out / "table.md", table_md(result))
    plot(result, out / "plot.png")
    print(f"results: {out}")
    return result


if __name__ == "__main__":
    main()
