"""What each change to the sparse DiffRGCN block bought, measured side by
side on one machine (the numbers in NOTES.md come from this script).

Variants of the block's attention, forward+backward in training mode:

- ``coo``: the reference path (gather, per-edge ``[E, H, C]`` messages,
  scatter), with the original LayerNorm (normalise, affine, scale: three
  passes);
- ``csr``: segment softmax over a CSR pointer and sparse products
  (``torch.sparse.mm`` forward, the transposed product and a sampled dense
  product backward), original LayerNorm;
- ``csr+norm``: plus the LayerNorm affine and scale fused into one pass
  (the shipped code);
- ``banded``: a prototype of the banded slot-table layout (each node's
  ``2w+1`` window as a dense row; softmax and aggregation as dense batched
  products), aggregation only, against the CSR products on the same
  weights.

Usage: ``python benchmarks/paths.py [--threads 2] [--repeats 7]``.
"""

import contextlib
import statistics
import sys
import time
from pathlib import Path
from unittest import mock

# script_cli.py lies beside the script, however it is run or loaded.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from script_cli import int_at_least, run_script, script_parser  # noqa: E402

# torch, PyG and dsgdn_pyg are imported where they are used, after the
# options are checked: a bad option is refused at once, not after seconds
# of imports, and Ctrl-C during the imports ends as Ctrl-C later does.

PROG = "paths.py"


def unfused_head_layer_norm(out, weight, bias, scale):
    """The original per-head LayerNorm: normalise, affine, scale."""
    import torch.nn.functional as F

    out = F.layer_norm(out, (out.size(-1), ))
    return (out * weight + bias) * scale


VARIANTS = {
    "coo": dict(layout="coo", norm=False),
    "csr": dict(layout="csr", norm=False),
    "csr+norm": dict(layout="csr", norm=True),
}


@contextlib.contextmanager
def variant(block, layout, norm):
    from dsgdn_pyg.nn import diff_gat_conv as conv_module

    for conv in (block.conv, block.out_conv):
        conv.layout = layout
    with contextlib.ExitStack() as stack:
        if not norm:
            stack.enter_context(mock.patch.object(
                conv_module, "head_layer_norm", unfused_head_layer_norm))
        yield


def cpu_ms(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def block_variants(lengths, window, repeats):
    from dsgdn_pyg.bench.layers import layer_runner, make_layers
    from dsgdn_pyg.bench.workloads import make_graph_batch

    inputs = make_graph_batch(lengths, window, 512, seed=0)
    inputs.x.requires_grad_(True)
    block = make_layers(512, 2, 0.2, seed=0)["sparse"].train()
    call = layer_runner("sparse", block, inputs)

    def step():
        block.zero_grad(set_to_none=True)
        call().sum().backward()

    out = {}
    for name, kw in VARIANTS.items():
        with variant(block, **kw):
            out[name] = cpu_ms(step, repeats)
    return out


def banded_weighted_sum(weight, value, window):
    """Prototype: ``out[i] = sum_k weight[i, :, k] value[i + k - w]`` with
    the window of every node as an unfolded (not copied) view."""
    import torch
    import torch.nn.functional as F

    n, heads, slots = weight.shape
    channels = value.size(-1)
    padded = F.pad(value, (0, 0, 0, 0, window, window))
    windows = padded.unfold(0, slots, 1).reshape(n * heads, channels, slots)
    return torch.bmm(weight.reshape(n * heads, 1, slots),
                     windows.transpose(1, 2)).view(n, heads, channels)


def banded_backward(weight, value, grad_out, window):
    """The two backward products of the prototype: the gradient of the
    weights (dot products with the window) and of the values (the same
    banded sum with the anti-diagonally transposed weights)."""
    import torch
    import torch.nn.functional as F

    n, heads, slots = weight.shape
    channels = value.size(-1)
    padded = F.pad(value, (0, 0, 0, 0, window, window))
    windows = padded.unfold(0, slots, 1).reshape(n * heads, channels, slots)
    grad_weight = torch.bmm(grad_out.reshape(n * heads, 1, channels),
                            windows).view(n, heads, slots)
    flipped = F.pad(weight, (0, 0, 0, 0, window, window)).flip(-1)
    transposed = torch.diagonal(flipped.unfold(0, slots, 1), dim1=2, dim2=3)
    grad_value = banded_weighted_sum(transposed.contiguous(), grad_out,
                                     window)
    return grad_weight, grad_value


def aggregation_only(lengths, window, repeats):
    """CSR products vs the banded prototype: forward sum plus both backward
    products, 2 heads of 512, on the same graph and weights."""
    import torch
    from torch_geometric import EdgeIndex

    from dsgdn_pyg.bench.workloads import make_graph_batch
    from dsgdn_pyg.nn import csr_weighted_sum

    inputs = make_graph_batch(lengths, window, 512, seed=0)
    edge_index = inputs.edge_index
    n, heads, channels = inputs.num_nodes, 2, 512
    layout = EdgeIndex(edge_index, sparse_size=(n, n)).sort_by(
        "col", stable=True).values
    weight = torch.randn(edge_index.size(1), heads)
    value = torch.randn(n, heads, channels)
    grad_out = torch.randn(n, heads, channels)
    slots = 2 * window + 1
    src, dst = layout.as_tensor()
    slot = dst * slots + (src - dst + window)
    banded = torch.zeros(n * slots, heads).index_copy_(0, slot, weight)
    banded = banded.view(n, slots, heads).permute(0, 2, 1).contiguous()

    # Both layouts compute the same thing.
    expected = csr_weighted_sum(weight, value, layout)
    assert (banded_weighted_sum(banded, value, window) -
            expected).abs().max() < 1e-3

    w = weight.clone().requires_grad_()
    v = value.clone().requires_grad_()

    def csr_step():
        out = csr_weighted_sum(w, v, layout)
        torch.autograd.grad(out, (w, v), grad_out)

    def banded_step():
        banded_weighted_sum(banded, value, window)
        banded_backward(banded, value, grad_out, window)

    return dict(csr=cpu_ms(csr_step, repeats),
                banded=cpu_ms(banded_step, repeats))


def make_parser():
    """The options, each with its help; their values are checked as they
    are parsed."""
    parser = script_parser(
        PROG, __doc__, epilog="Cases: B=16 dialogues of L=110 and of L=52 "
        "at w=20, one of L=2048 at w=5; width 512, 2 heads. Prints the "
        "block's forward+backward for the coo, csr and csr+norm variants, "
        "then the aggregation alone, csr against banded (a few minutes on "
        "two cores).")
    parser.add_argument(
        "--threads", type=int_at_least(1), default=None, metavar="N",
        help="torch intra-op threads (default: torch's choice)")
    parser.add_argument(
        "--repeats", type=int_at_least(1), default=7, metavar="N",
        help="timed calls per measurement after one untimed call; the "
        "median is printed (default: 7)")
    return parser


def parse_args(argv=None):
    return make_parser().parse_args(argv)


def run(args):
    import torch

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    print(f"torch threads: {torch.get_num_threads()}", flush=True)
    cases = [("B=16, L=110, w=20", [110] * 16, 20),
             ("B=16, L=52, w=20", [52] * 16, 20),
             ("B=1, L=2048, w=5", [2048], 5)]
    print("DiffRGCN block forward+backward (ms, median):", flush=True)
    for title, lengths, window in cases:
        res = block_variants(lengths, window, args.repeats)
        print(f"  {title}: " + ", ".join(f"{k} {v:.1f}"
                                         for k, v in res.items()),
              flush=True)
    print("aggregation only, forward + both backward products (ms):",
          flush=True)
    for title, lengths, window in cases:
        res = aggregation_only(lengths, window, args.repeats)
        print(f"  {title}: " + ", ".join(f"{k} {v:.2f}"
                                         for k, v in res.items()),
              flush=True)


def main(argv=None):
    """Checks every option before torch loads (a bad one: one line, exit
    2), then measures; Ctrl-C: one line, exit 130."""
    return run_script(PROG, parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
