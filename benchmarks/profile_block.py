"""Where the time of one DiffRGCN block goes: torch.profiler's top operators
for one forward+backward call (training mode) of the sparse block on either
path, or of the dense block, on a batch of dialogues.

Usage::

    python benchmarks/profile_block.py --layer sparse --layout coo
    python benchmarks/profile_block.py --layer sparse --layout csr
    python benchmarks/profile_block.py --layer dense --lengths 110 --batch 16
"""

import argparse

import torch
from torch.profiler import profile

from dsgdn_pyg.bench.layers import layer_runner, make_layers
from dsgdn_pyg.bench.workloads import make_graph_batch


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layer", choices=("sparse", "dense", "gat"),
                        default="sparse")
    parser.add_argument("--layout", choices=("auto", "csr", "coo"),
                        default="auto", help="sparse block only")
    parser.add_argument("--lengths", type=int, default=110)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--window", type=int, default=20)
    parser.add_argument("--rows", type=int, default=15)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

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


if __name__ == "__main__":
    main()
