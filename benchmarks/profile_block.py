"""Where the time of one DiffRGCN block goes: torch.profiler's top operators
for one forward+backward call (training mode) of the sparse block on either
path, or of the dense block, on a batch of dialogues.

Usage::

    python benchmarks/profile_block.py --layer sparse --layout coo
    python benchmarks/profile_block.py --layer sparse --layout csr
    python benchmarks/profile_block.py --layer dense --lengths 110 --batch 16
"""

import sys
from pathlib import Path

# script_cli.py lies beside the script, however it is run or loaded.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from script_cli import int_at_least, run_script, script_parser  # noqa: E402

# torch, PyG and dsgdn_pyg are imported in run(), after the options are
# checked: a bad option is refused at once, not after seconds of imports,
# and Ctrl-C during the imports ends as Ctrl-C later does.

LAYERS = ("sparse", "dense", "gat")
LAYOUTS = ("auto", "csr", "coo")
PROG = "profile_block.py"


def make_parser():
    """The options, each with its help; their values are checked as they
    are parsed."""
    parser = script_parser(PROG, __doc__)
    parser.add_argument(
        "--layer", choices=LAYERS, default="sparse",
        help="the block: sparse (DiffRGCN), dense (DenseDiffRGCN, padded "
        "adjacency) or gat (PyG's GATConv block) (default: sparse)")
    parser.add_argument(
        "--layout", choices=LAYOUTS, default=None,
        help="the sparse block's path: csr (edges sorted by target, "
        "segment softmax and sparse products), coo (the reference: "
        "per-edge messages and a scatter) or auto (csr where it can run) "
        "(default: auto; --layer sparse only)")
    parser.add_argument(
        "--lengths", type=int_at_least(1), default=110, metavar="L",
        help="utterances in each dialogue of the batch (default: 110)")
    parser.add_argument(
        "--batch", type=int_at_least(1), default=16, metavar="B",
        help="dialogues in the batch (default: 16)")
    parser.add_argument(
        "--window", type=int_at_least(0), default=20, metavar="W",
        help="the window w of the inter-speaker graph: utterances at most "
        "w apart are joined (default: 20)")
    parser.add_argument(
        "--rows", type=int_at_least(1), default=15, metavar="N",
        help="operators in the table, by self CPU time (default: 15)")
    parser.add_argument(
        "--threads", type=int_at_least(1), default=None, metavar="N",
        help="torch intra-op threads (default: torch's choice)")
    return parser


def parse_args(argv=None):
    parser = make_parser()
    args = parser.parse_args(argv)
    if args.layout is not None and args.layer != "sparse":
        parser.error(f"argument --layout: applies to --layer sparse only, "
                     f"got --layer {args.layer}")
    if args.layout is None:
        args.layout = "auto"
    return args


def run(args):
    import torch
    from torch.profiler import profile

    from dsgdn_pyg.bench.layers import layer_runner, make_layers
    from dsgdn_pyg.bench.workloads import make_graph_batch

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    layout = f" (layout {args.layout})" if args.layer == "sparse" else ""
    print(f"{args.layer} block{layout}, {args.batch} dialogues of "
          f"{args.lengths} utterances, w={args.window}, width 512, 2 heads, "
          f"torch threads: {torch.get_num_threads()}; one forward+backward, "
          f"the top {args.rows} operators by self CPU time", flush=True)

    inputs = make_graph_batch([args.lengths] * args.batch, args.window, 512)
    inputs.x.requires_grad_(True)
    layer = make_layers(512, 2, 0.2)[args.layer].train()
    if args.layer == "sparse":
        layer.conv.layout = layer.out_conv.layout = args.layout
    call = layer_runner(args.layer, layer, inputs)

    def step():
        layer.zero_grad(set_to_none=True)
        call().sum().backward()

    for _ in range(2):
        step()
    with profile() as prof:
        step()
    print(prof.key_averages().table(sort_by="self_cpu_time_total",
                                    row_limit=args.rows))


def main(argv=None):
    """Checks every option before torch loads (a bad one: one line, exit
    2), then profiles; Ctrl-C: one line, exit 130."""
    return run_script(PROG, parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
