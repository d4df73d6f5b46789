"""Heterophily: GATConv against DiffGATConv (and GCN, and no graph) on
graphs whose neighbours mostly disagree, with the recipe of Platonov et al.,
"A critical look at the evaluation of GNNs under heterophily", ICLR 2023.

Plain attention averages neighbours; differential attention subtracts a
second attention map (the paper's Sec. 4.5, Eq. 9-18) and can give a
neighbour a negative weight, which may suit neighbours of another class.
The graphs: ``minesweeper`` and ``tolokers`` (metric ROC AUC) and
``chameleon_filtered`` (accuracy), each with its ten fixed 50/25/25 %
splits; the mean and std over the splits are reported.

The recipe (their defaults, this script's defaults too): an input linear
layer and GELU, then per graph layer ``x = x + FFN(conv(LayerNorm(x)))``
(FFN: linear, GELU, dropout, linear, dropout), a final LayerNorm and linear
layer; hidden 512, 8 heads, 1-5 graph layers chosen on validation, dropout
0.2, Adam with lr 3e-5, 1000 steps, all ten splits, the test metric at the
evaluation of best validation metric. Every option can be reduced for a CPU
(``--hidden``, ``--heads``, ``--layers``, ``--dropout``, ``--lr``,
``--steps``, ``--splits``); the results file records what ran, and its
``full_recipe`` is true (and the table quotes the published figures) only
when every one of these matches the recipe: the depths tried are those of
``--layers`` as a set (tried from the shallowest; a tie on validation goes
to the shallower), the splits all ten in any order. The datasets and models
run do not change it, nor does ``--eval-every`` (how often the validation
metric is read).

``DiffGATConv`` runs with ``num_relations=None``, ``norm=False`` and
``act=False``: the layer's defaults, passed explicitly so that the study
does not change with them (the recipe puts its own LayerNorm and FFN around
every graph layer).

Output: ``--out`` (default ``results/heterophily`` of the repository) gets
``results.json``, ``table.md`` and ``plot.png``. Every option, the dataset
files and ``--out`` are checked before any training; a folder that already
holds results (any of those three files, or a ``results.partial.json``) is
refused unless ``--overwrite`` is given. While the study runs, the
(dataset, model) runs finished so far are written to
``results.partial.json`` after each; only when all are done are
``table.md``, ``plot.png`` and then ``results.json`` written (replacing
those of an earlier run) and ``results.partial.json`` removed. So an
interrupted run leaves the earlier run's three files untouched beside its
own ``results.partial.json``, and a folder holding ``results.partial.json``
holds a run that did not finish. Bad options and missing dataset files
exit with status 2 and one line, Ctrl-C with status 130::

    python examples/heterophily.py                            # full recipe
    python examples/heterophily.py --hidden 64 --layers 2 --steps 300 \\
        --lr 1e-3 --datasets minesweeper,chameleon_filtered
"""

import argparse
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score
from torch import nn
from torch_geometric.nn import GATConv, GCNConv

from dsgdn_pyg.bench.graphs import (default_heterophilous_root,
                                    load_heterophilous)
from dsgdn_pyg.nn import DiffGATConv

sys.path.insert(0, str(Path(__file__).resolve().parent))
from study_cli import (RESULTS, Progress, add_out_options,  # noqa: E402
                       check_out, command, fail, int_list, mean_std,
                       name_list, number, pyplot, require_matplotlib,
                       save_png, study_epilog)

DATASETS = {"minesweeper": "roc_auc", "tolokers": "roc_auc",
            "chameleon_filtered": "accuracy"}
MODELS = {"gat": "GATConv", "diff": "DiffGATConv", "gcn": "GCNConv",
          "none": "no graph (ResNet)"}
#: The paper's repository's figures for its recipe (10 splits).
PUBLISHED = {("gat", "minesweeper"): "92.01 +- 0.68",
             ("gat", "tolokers"): "83.70 +- 0.47",
             ("gcn", "minesweeper"): "89.75 +- 0.52",
             ("gcn", "tolokers"): "83.64 +- 0.67",
             ("none", "minesweeper"): "50.89 +- 1.39",
             ("none", "tolokers"): "72.95 +- 1.06"}
RECIPE = dict(hidden=512, heads=8, layers=[1, 2, 3, 4, 5], dropout=0.2,
              lr=3e-5, steps=1000)
#: The recipe's splits: all ten.
RECIPE_SPLITS = list(range(10))


def is_full_recipe(recipe: dict, splits: List[int]) -> bool:
    """Whether a run is the published recipe in every dimension this script
    can reduce: :data:`RECIPE` (the depths as a set) and all ten splits (in
    any order)."""
    return (sorted(splits) == RECIPE_SPLITS and
            {**recipe, "layers": sorted(set(recipe["layers"]))} == RECIPE)


def make_conv(model: str, dim: int, heads: int) -> nn.Module:
    if model == "gat":
        return GATConv(dim, dim // heads, heads=heads)
    if model == "diff":
        return DiffGATConv(dim, dim // heads, heads=heads,
                           num_relations=None, norm=False, act=False)
    if model == "gcn":
        return GCNConv(dim, dim)
    return nn.Linear(dim, dim)  # no graph: the ResNet baseline


class Net(nn.Module):
    """Input linear + GELU, :obj:`layers` residual blocks
    ``x + FFN(conv(LayerNorm(x)))``, LayerNorm, output linear."""

    def __init__(self, model: str, in_dim: int, num_classes: int, hidden: int,
                 heads: int, layers: int, dropout: float):
        super().__init__()
        self.graph = model != "none"
        self.dropout = dropout
        self.input = nn.Linear(in_dim, hidden)
        self.norms = nn.ModuleList(nn.LayerNorm(hidden)
                                   for _ in range(layers))
        self.convs = nn.ModuleList(make_conv(model, hidden, heads)
                                   for _ in range(layers))
        self.ffns = nn.ModuleList(nn.Sequential(
            nn.Linear(hidden, hidden), nn.GELU(), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.Dropout(dropout))
            for _ in range(layers))
        self.out_norm = nn.LayerNorm(hidden)
        self.out = nn.Linear(hidden, num_classes)

    def forward(self, x, edge_index):
        x = F.dropout(F.gelu(self.input(x)), self.dropout, self.training)
        for norm, conv, ffn in zip(self.norms, self.convs, self.ffns):
            h = norm(x)
            h = conv(h, edge_index) if self.graph else conv(h)
            x = x + ffn(h)
        return self.out(self.out_norm(x))


def score(metric: str, logits, y) -> float:
    if metric == "roc_auc":
        return float(roc_auc_score(y.numpy(),
                                   (logits[:, 1] - logits[:, 0]).numpy()))
    return float((logits.argmax(-1) == y).float().mean())


def run(data, metric: str, model: str, split: int, layers: int, args
        ) -> Dict[str, float]:
    """Trains one model on one split; the validation and test metric at the
    evaluation of best validation metric."""
    torch.manual_seed(split)
    net = Net(model, data.num_features, int(data.y.max()) + 1, args.hidden,
              args.heads, layers, args.dropout)
    optimizer = torch.optim.Adam(net.parameters(), lr=args.lr)
    train, val, test = (m[:, split] for m in (data.train_mask, data.val_mask,
                                              data.test_mask))
    best = dict(val=-1.0, test=0.0, step=0)
    for step in range(1, args.steps + 1):
        net.train()
        optimizer.zero_grad()
        out = net(data.x, data.edge_index)
        F.cross_entropy(out[train], data.y[train]).backward()
        optimizer.step()
        if step % args.eval_every and step != args.steps:
            continue
        net.eval()
        with torch.no_grad():
            out = net(data.x, data.edge_index)
        v = score(metric, out[val], data.y[val])
        if v > best["val"]:
            best = dict(val=v, test=score(metric, out[test], data.y[test]),
                        step=step)
    return best


def table_md(result: dict) -> str:
    r = result["recipe"]
    names = result["datasets"]
    lines = [f"Test metric (%) over splits {result['splits']}, mean +- std "
             f"(ROC AUC for minesweeper and tolokers, accuracy for "
             f"chameleon_filtered); hidden {r['hidden']}, {r['heads']} heads, "
             f"layers {r['layers']} chosen on validation, dropout "
             f"{r['dropout']}, Adam lr {r['lr']}, {r['steps']} steps"
             + ("" if result["full_recipe"] else
                " (REDUCED from the published recipe: hidden 512, 8 heads, "
                "1-5 layers, dropout 0.2, lr 3e-5, 1000 steps, splits 0-9)"),
             "",
             "| model | " + " | ".join(names) + " |",
             "|---|" + "---|" * len(names)]
    for model in result["models"]:
        cells = []
        for name in names:
            cell = result["summary"].get(name, {}).get(model)
            if cell is None:
                cells.append("not run")
                continue
            text = f"{cell['mean']:.2f} +- {cell['std']:.2f}"
            if result["full_recipe"] and (model, name) in PUBLISHED:
                text += f" (published {PUBLISHED[(model, name)]})"
            cells.append(text)
        lines.append(f"| {MODELS[model]} | " + " | ".join(cells) + " |")
    lines.append("")
    if not result["full_recipe"]:
        lines.append("The published GAT/GCN/ResNet figures (minesweeper "
                     "92.01 / 89.75 / 50.89, tolokers 83.70 / 83.64 / 72.95) "
                     "come from the full recipe and are not comparable to "
                     "this reduced run.")
    return "\n".join(lines) + "\n"


def plot(result: dict, path: Path) -> None:
    """The test metric per model, one panel per dataset."""
    plt = pyplot()
    names = [n for n in result["datasets"] if n in result["summary"]]
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.8),
                             squeeze=False)
    for ax, name in zip(axes[0], names):
        models = [m for m in result["models"] if m in result["summary"][name]]
        cells = [result["summary"][name][m] for m in models]
        ax.bar(range(len(models)), [c["mean"] for c in cells],
               yerr=[c["std"] for c in cells], capsize=4,
               color=["C%d" % i for i in range(len(models))])
        ax.set_xticks(range(len(models)), [MODELS[m] for m in models],
                      rotation=20, fontsize=8)
        lo = min(c["mean"] - c["std"] for c in cells)
        ax.set_ylim(max(0, lo - 5), None)
        ax.set_title(f"{name} ({DATASETS[name].replace('_', ' ')})")
        ax.grid(True, axis="y", alpha=0.3)
    r = result["recipe"]
    fig.suptitle(f"heterophilous graphs, {len(result['splits'])} splits; "
                 f"hidden {r['hidden']}, {r['heads']} heads, layers "
                 f"{r['layers']}, {r['steps']} steps, lr {r['lr']}",
                 fontsize=9)
    save_png(fig, path)


def main(argv: Optional[List[str]] = None) -> dict:
    parser = argparse.ArgumentParser(
        prog="heterophily.py", description=__doc__.split("\n\n")[0],
        epilog=study_epilog("(dataset, model) runs", "all are done",
                            "a missing dataset file"))
    parser.add_argument("--root", type=Path,
                        default=default_heterophilous_root(),
                        help="folder holding the .npz files (default: "
                        "$DSGDN_DATA/heterophilous)")
    parser.add_argument("--datasets", default=",".join(DATASETS),
                        help=f"comma-separated, each once, from "
                        f"{', '.join(DATASETS)} (default: all three)")
    parser.add_argument("--models", default="gat,diff,gcn,none",
                        help=f"comma-separated, each once, from "
                        f"{', '.join(MODELS)}: GATConv, DiffGATConv, "
                        f"GCNConv, no graph (default: all four)")
    parser.add_argument("--splits", default="0,1,2,3,4,5,6,7,8,9",
                        help="comma-separated splits to train on, integers "
                        "in 0-9, each once (default: all ten, the recipe)")
    parser.add_argument("--hidden", type=number(int, 1),
                        default=RECIPE["hidden"],
                        help="hidden channels, >= 1 and a multiple of "
                        "--heads (default: 512, the recipe)")
    parser.add_argument("--heads", type=number(int, 1),
                        default=RECIPE["heads"],
                        help="attention heads of GATConv and DiffGATConv, "
                        ">= 1 (default: 8, the recipe)")
    parser.add_argument("--layers", default="1,2,3,4,5",
                        help="comma-separated graph-layer counts to choose "
                        "from on validation, integers >= 1, each once "
                        "(default: 1-5, the recipe)")
    parser.add_argument("--dropout", type=number(float, 0, 1, high_open=True),
                        default=RECIPE["dropout"],
                        help="dropout probability, >= 0 and < 1 (default: "
                        "0.2, the recipe)")
    parser.add_argument("--lr", type=number(float, 0, low_open=True),
                        default=RECIPE["lr"],
                        help="Adam's learning rate, > 0 (default: 3e-5, the "
                        "recipe)")
    parser.add_argument("--steps", type=number(int, 1),
                        default=RECIPE["steps"],
                        help="training steps per model, >= 1 (default: "
                        "1000, the recipe)")
    parser.add_argument("--eval-every", type=number(int, 1), default=10,
                        help="read the validation metric every this many "
                        "steps (and at the last), >= 1 (default: 10)")
    parser.add_argument("--threads", type=number(int, 1), default=None,
                        help="torch CPU threads, >= 1 (default: torch's "
                        "choice)")
    add_out_options(parser, "output folder (default: results/heterophily "
                    "of the repository; a folder holding results is refused "
                    "without --overwrite)")
    args = parser.parse_args(argv)
    names = name_list(parser, "--datasets", args.datasets, list(DATASETS))
    models = name_list(parser, "--models", args.models, list(MODELS))
    splits = int_list(parser, "--splits", args.splits, 0, 9, example="1,2")
    # Tried from the shallowest: a tie on validation goes to the shallower.
    layer_counts = sorted(int_list(parser, "--layers", args.layers, 1,
                                   example="1,2"))
    if args.hidden % args.heads:
        parser.error(f"--hidden: {args.hidden} is not a multiple of --heads "
                     f"{args.heads}; expected hidden = heads x channels")
    out = args.out or RESULTS / "heterophily"
    check_out(parser, out, args.overwrite)
    missing = [n for n in names if not (args.root / f"{n}.npz").is_file()]
    if missing:
        fail(f"heterophily.py: {args.root / (missing[0] + '.npz')} is "
             f"absent; pass --root with the folder of the .npz files")
    require_matplotlib("heterophily.py")
    if args.threads:
        torch.set_num_threads(args.threads)
    args.eval_every = min(args.eval_every, args.steps)

    recipe = dict(hidden=args.hidden, heads=args.heads, layers=layer_counts,
                  dropout=args.dropout, lr=args.lr, steps=args.steps)
    result = dict(datasets=names, models=models, splits=splits,
                  recipe=recipe, full_recipe=is_full_recipe(recipe, splits),
                  eval_every=args.eval_every, runs={}, summary={},
                  seconds={})
    graphs = {}
    for name in names:  # every file read before anything in --out changes
        path = args.root / f"{name}.npz"
        try:
            graphs[name] = load_heterophilous(path)
        except Exception as exc:  # an unreadable file, whatever the cause
            fail(f"heterophily.py: {path}: cannot be read as a graph of "
                 f"Platonov et al. ({str(exc).splitlines()[0]})")
    progress = Progress("heterophily.py", out, len(names) * len(models),
                        "(dataset, model) runs")
    with progress:
        progress.clear()
        for name in names:
            data = graphs[name]
            metric = DATASETS[name]
            for model in models:
                start = time.perf_counter()
                tests, chosen = [], []
                for split in splits:
                    # Depth chosen on the split's validation metric.
                    runs = {n: run(data, metric, model, split, n, args)
                            for n in layer_counts}
                    depth = max(runs, key=lambda n: runs[n]["val"])
                    tests.append(runs[depth]["test"])
                    chosen.append(depth)
                    result["runs"].setdefault(name, {}).setdefault(
                        model, []).append(dict(split=split, layers=depth,
                                               **runs[depth]))
                result["summary"].setdefault(name, {})[model] = dict(
                    mean_std(tests), layers=chosen)
                seconds = round(time.perf_counter() - start, 1)
                result["seconds"].setdefault(name, {})[model] = seconds
                s = result["summary"][name][model]
                print(f"{name:19s} {MODELS[model]:18s} {metric} "
                      f"{s['mean']:.2f} +- {s['std']:.2f} ({seconds:.0f} s)",
                      flush=True)
                progress.save(result)
        progress.finish(result, table_md, plot)
    print(f"results: {out}")
    return result


def cli(argv: Optional[List[str]] = None) -> int:
    """:func:`main` as a command: Ctrl-C prints one line, status 130."""
    return command(main, argv, "heterophily.py: interrupted; nothing written")


if __name__ == "__main__":
    sys.exit(cli())
