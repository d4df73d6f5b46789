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
import importlib.util
import json
import math
import statistics
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
from dsgdn_pyg.io import atomic_write, atomic_write_text, check_writable
from dsgdn_pyg.nn import DiffGATConv

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
#: The files of a finished run, and the progress file of an unfinished one.
OUTPUTS = ("results.json", "table.md", "plot.png")
PARTIAL = "results.partial.json"


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during the study, with the one line saying what ``--out``
    holds."""


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


def mean_std(values: List[float]) -> Dict[str, float]:
    return dict(mean=100 * statistics.mean(values),
                std=100 * (statistics.stdev(values) if len(values) > 1
                           else 0.0))


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
    import io

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    atomic_write(path, lambda f: f.write(buffer.getvalue()))


def _ints(parser, option: str, text: str, low: int,
          high: Optional[int] = None) -> List[int]:
    """The comma-separated integers of :obj:`option`, each once and in
    ``[low, high]``; ``parser.error`` naming :obj:`option` otherwise."""
    values = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            value = int(item)
        except ValueError:
            parser.error(f"{option}: {item!r} is not an integer; expected "
                         f"comma-separated integers, e.g. 1,2")
        if value < low or (high is not None and value > high):
            bound = f">= {low}" if high is None else f"in {low}-{high}"
            parser.error(f"{option}: {value} is out of range; expected "
                         f"integers {bound}")
        if value in values:
            parser.error(f"{option}: {value} is given twice; expected each "
                         f"value once")
        values.append(value)
    if not values:
        parser.error(f"{option}: expected at least one comma-separated "
                     f"integer, got {text!r}")
    return values


def _names(parser, option: str, text: str, choices) -> List[str]:
    """The comma-separated names of :obj:`option`, each once and one of
    :obj:`choices`; ``parser.error`` naming :obj:`option` otherwise."""
    names = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        if item not in choices:
            parser.error(f"{option}: unknown {item!r}; expected "
                         f"comma-separated names from {', '.join(choices)}")
        if item in names:
            parser.error(f"{option}: {item!r} is given twice; expected each "
                         f"name once")
        names.append(item)
    if not names:
        parser.error(f"{option}: expected at least one of "
                     f"{', '.join(choices)}, got {text!r}")
    return names


def _number(kind, low, high=None, low_open=False, high_open=False):
    """An ``argparse`` type: a finite :obj:`kind` (``int`` or ``float``) in
    the interval from :obj:`low` to :obj:`high` (open ends as told)."""
    name = "an integer" if kind is int else "a number"
    left = ("> " if low_open else ">= ") + f"{low:g}"
    bound = left if high is None else \
        f"{left} and {'<' if high_open else '<='} {high:g}"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {name}; expected {name} {bound}") from None
        if not math.isfinite(value) or value < low or \
                (low_open and value == low) or \
                (high is not None and (value > high or
                                       (high_open and value == high))):
            raise argparse.ArgumentTypeError(
                f"{text} is out of range; expected {name} {bound}")
        return value

    return parse


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


def fail(message: str) -> None:
    """Bad input that argparse cannot see (a missing dataset file): the
    one-line :obj:`message` on stderr and exit status 2."""
    print(message, file=sys.stderr)
    raise SystemExit(2)


def main(argv: Optional[List[str]] = None) -> dict:
    parser = argparse.ArgumentParser(
        prog="heterophily.py", description=__doc__.split("\n\n")[0],
        epilog=f"While the study runs, {PARTIAL} in --out holds the "
        f"(dataset, model) runs finished so far; {', '.join(OUTPUTS)} are "
        f"written (and an earlier run's replaced) only once all are done, "
        f"and {PARTIAL} is then removed. Exit status: 0 done, 2 a bad "
        f"option, --out or a missing dataset file, 130 interrupted "
        f"(Ctrl-C).")
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
    parser.add_argument("--hidden", type=_number(int, 1),
                        default=RECIPE["hidden"],
                        help="hidden channels, >= 1 and a multiple of "
                        "--heads (default: 512, the recipe)")
    parser.add_argument("--heads", type=_number(int, 1),
                        default=RECIPE["heads"],
                        help="attention heads of GATConv and DiffGATConv, "
                        ">= 1 (default: 8, the recipe)")
    parser.add_argument("--layers", default="1,2,3,4,5",
                        help="comma-separated graph-layer counts to choose "
                        "from on validation, integers >= 1, each once "
                        "(default: 1-5, the recipe)")
    parser.add_argument("--dropout", type=_number(float, 0, 1,
                                                  high_open=True),
                        default=RECIPE["dropout"],
                        help="dropout probability, >= 0 and < 1 (default: "
                        "0.2, the recipe)")
    parser.add_argument("--lr", type=_number(float, 0, low_open=True),
                        default=RECIPE["lr"],
                        help="Adam's learning rate, > 0 (default: 3e-5, the "
                        "recipe)")
    parser.add_argument("--steps", type=_number(int, 1),
                        default=RECIPE["steps"],
                        help="training steps per model, >= 1 (default: "
                        "1000, the recipe)")
    parser.add_argument("--eval-every", type=_number(int, 1), default=10,
                        help="read the validation metric every this many "
                        "steps (and at the last), >= 1 (default: 10)")
    parser.add_argument("--threads", type=_number(int, 1), default=None,
                        help="torch CPU threads, >= 1 (default: torch's "
                        "choice)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: results/heterophily "
                        "of the repository; a folder holding results is "
                        "refused without --overwrite)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the results already in --out (they "
                        "are replaced only once the new run has finished)")
    args = parser.parse_args(argv)
    names = _names(parser, "--datasets", args.datasets, list(DATASETS))
    models = _names(parser, "--models", args.models, list(MODELS))
    splits = _ints(parser, "--splits", args.splits, 0, 9)
    # Tried from the shallowest: a tie on validation goes to the shallower.
    layer_counts = sorted(_ints(parser, "--layers", args.layers, 1))
    if args.hidden % args.heads:
        parser.error(f"--hidden: {args.hidden} is not a multiple of --heads "
                     f"{args.heads}; expected hidden = heads x channels")
    out = args.out or (Path(__file__).resolve().parents[1] / "results" /
                       "heterophily")
    check_out(parser, out, args.overwrite)
    missing = [n for n in names if not (args.root / f"{n}.npz").is_file()]
    if missing:
        fail(f"heterophily.py: {args.root / (missing[0] + '.npz')} is "
             f"absent; pass --root with the folder of the .npz files")
    if importlib.util.find_spec("matplotlib") is None:
        fail("heterophily.py: matplotlib is not installed; it draws "
             "plot.png (pip install matplotlib, or the project's [bench] "
             "extra)")
    if args.threads:
        torch.set_num_threads(args.threads)
    args.eval_every = min(args.eval_every, args.steps)

    recipe = dict(hidden=args.hidden, heads=args.heads, layers=layer_counts,
                  dropout=args.dropout, lr=args.lr, steps=args.steps)
    result = dict(datasets=names, models=models, splits=splits,
                  recipe=recipe, full_recipe=is_full_recipe(recipe, splits),
                  eval_every=args.eval_every, runs={}, summary={},
                  seconds={})
    done, total = 0, len(names) * len(models)
    try:
        # --overwrite: an earlier unfinished run's progress is replaced now;
        # its finished results only by write_results.
        (out / PARTIAL).unlink(missing_ok=True)
        for name in names:
            try:
                data = load_heterophilous(args.root / f"{name}.npz")
            except ValueError as exc:
                fail(f"heterophily.py: {exc}")
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
                done += 1
                # After each model, so that an interrupted run keeps its
                # part, under a name no finished run has.
                partial = dict(result, unfinished=f"{done} of {total} "
                               f"(dataset, model) runs")
                atomic_write_text(out / PARTIAL,
                                  json.dumps(partial, indent=1) + "\n")
        write_results(out, result)
    except KeyboardInterrupt:
        if done:
            where = (f"{out / PARTIAL} holds the {done} of {total} (dataset, "
                     f"model) runs finished so far")
        else:
            where = f"nothing written to {out}"
        raise Interrupted(f"heterophily.py: interrupted; {where}") from None
    print(f"results: {out}")
    return result


def cli(argv: Optional[List[str]] = None) -> int:
    """:func:`main` as a command: Ctrl-C prints one line, status 130."""
    try:
        main(argv)
    except KeyboardInterrupt as exc:
        print(exc.args[0] if isinstance(exc, Interrupted) else
              "heterophily.py: interrupted; nothing written", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(cli())
