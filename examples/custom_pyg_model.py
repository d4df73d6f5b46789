"""DiffGATConv in your own PyG model, on a non-dialogue graph: two stochastic
block model communities, edges with 3 random relation ids, Adam, 50 steps.

Prints the loss and accuracies every 10 steps and the signed attention
weights of the first layer; writes no files::

    python examples/custom_pyg_model.py
    python examples/custom_pyg_model.py --steps 100 --seed 1
"""

import argparse
import sys
from typing import List, Optional

import torch
import torch.nn.functional as F
from torch_geometric.utils import scatter, stochastic_blockmodel_graph

from dsgdn_pyg.nn import DiffGATConv


class Net(torch.nn.Module):
    def __init__(self, in_channels, hidden, num_classes, num_relations):
        super().__init__()
        self.conv1 = DiffGATConv(in_channels, hidden, heads=2,
                                 num_relations=num_relations, dropout=0.1)
        self.conv2 = DiffGATConv(2 * hidden, hidden, heads=1,
                                 num_relations=num_relations, act=False)
        self.lin = torch.nn.Linear(hidden, num_classes)

    def forward(self, x, edge_index, edge_type):
        x = self.conv1(x, edge_index, edge_type)
        return self.lin(self.conv2(x, edge_index, edge_type))


def main(steps: int = 50, seed: int = 0) -> dict:
    torch.manual_seed(seed)
    probs = [[0.05, 0.02], [0.02, 0.05]]  # two communities, noisy links
    edge_index = stochastic_blockmodel_graph([100, 100], probs)
    y = torch.arange(200) // 100
    x = torch.randn(200, 16) + 0.2 * (2 * y - 1).unsqueeze(1)  # weak signal
    edge_type = torch.randint(1, 4, (edge_index.size(1), ))  # relations 1-3
    train = torch.rand(200) < 0.5
    model = Net(16, 16, num_classes=2, num_relations=3)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for step in range(1, steps + 1):
        optimizer.zero_grad()
        out = model.train()(x, edge_index, edge_type)
        loss = F.cross_entropy(out[train], y[train])
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            pred = model.eval()(x, edge_index, edge_type).argmax(-1)
        acc = [(pred[m] == y[m]).float().mean().item()
               for m in (train, ~train)]
        if step % 10 == 0:
            print(f"step {step:3d}  loss {loss.item():.4f}  "
                  f"train acc {acc[0]:.3f}  test acc {acc[1]:.3f}")

    # Signed differential weights [num_edges, heads] of the edges the layer
    # used (the graph's and one added self-loop per node); per target they
    # sum to 1 - lambda.
    _, (used_edges, alpha) = model.conv1(x, edge_index, edge_type,
                                         return_attention_weights=True)
    sums = scatter(alpha, used_edges[1], dim=0, dim_size=200)[0].tolist()
    lam = model.conv1.differential_lambda().tolist()
    print(f"attention weights {tuple(alpha.shape)}; node 0 sums {sums}; "
          f"lambda {lam}")
    return {"loss": loss.item(), "train_acc": acc[0], "test_acc": acc[1]}


def int_at_least(low: int):
    """An ``argparse`` type: an integer >= :obj:`low`, else a one-line
    error naming the option."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not an integer; expected an integer >= {low}"
            ) from None
        if value < low:
            raise argparse.ArgumentTypeError(
                f"{value} is out of range; expected an integer >= {low}")
        return value

    return parse


def cli(argv: Optional[List[str]] = None) -> int:
    """The command: options, :func:`main`; Ctrl-C prints one line, status
    130. Unknown or bad options exit with status 2."""
    parser = argparse.ArgumentParser(
        prog="custom_pyg_model.py", description=__doc__.split("\n\n")[0],
        epilog="Exit status: 0 done, 2 a bad option, 130 interrupted "
        "(Ctrl-C).")
    parser.add_argument("--steps", type=int_at_least(1), default=50,
                        help="Adam steps, >= 1 (default: 50)")
    parser.add_argument("--seed", type=int_at_least(0), default=0,
                        help="seed of the graph, the features, the split "
                        "and the weights, >= 0 (default: 0)")
    args = parser.parse_args(argv)
    try:
        main(args.steps, args.seed)
    except KeyboardInterrupt:
        print("custom_pyg_model.py: interrupted; nothing written",
              file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(cli())
