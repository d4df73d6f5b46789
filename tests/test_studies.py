"""The evidence studies' examples (``examples/edge_noise.py``,
``examples/heterophily.py``): their noise, their model and their output
on tiny inputs."""

import json
import runpy
from pathlib import Path

import numpy as np
import pytest
import torch
from torch_geometric.data import Data

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def edge_noise():
    return runpy.run_path(str(EXAMPLES / "edge_noise.py"))


@pytest.fixture(scope="module")
def heterophily():
    return runpy.run_path(str(EXAMPLES / "heterophily.py"))


def test_edge_noise_adds_the_stated_share_of_random_edges(edge_noise):
    edge_index = torch.tensor([[0, 1, 1, 2, 2, 3, 3, 4],
                               [1, 0, 2, 1, 3, 2, 4, 3]])
    data = Data(edge_index=edge_index, num_nodes=40)
    for percent, factor in ((0, 1), (50, 1.5), (100, 2), (200, 3)):
        noisy = edge_noise["noisy_graph"](data, percent, 7)
        assert noisy.num_edges == int(8 * factor)
        assert noisy.is_undirected()
        # The graph's own edges are kept.
        assert torch.equal(noisy.edge_index[:, :8], edge_index)
    a = edge_noise["noisy_graph"](data, 200, 7).edge_index
    assert torch.equal(a, edge_noise["noisy_graph"](data, 200, 7).edge_index)
    assert not torch.equal(a, edge_noise["noisy_graph"](data, 200, 8)
                           .edge_index)


def test_edge_noise_without_data_is_one_line(edge_noise, tmp_path):
    with pytest.raises(SystemExit) as info:
        edge_noise["main"](["--root", str(tmp_path), "--dataset",
                            "CiteSeer"])
    message = str(info.value)
    assert message.startswith("edge_noise.py: CiteSeer is not in ")
    assert "ind.citeseer.x" in message and "\n" not in message


@pytest.fixture
def tiny_graphs(tmp_path):
    rng = np.random.default_rng(0)
    for name, classes in (("minesweeper", 2), ("chameleon_filtered", 3)):
        n = 60
        masks = np.zeros((3, 10, n), bool)
        for s in range(10):
            order = rng.permutation(n)
            masks[0, s, order[:30]] = True
            masks[1, s, order[30:45]] = True
            masks[2, s, order[45:]] = True
        np.savez(tmp_path / f"{name}.npz",
                 node_features=rng.normal(size=(n, 5)).astype("float32"),
                 node_labels=rng.integers(0, classes, n),
                 edges=rng.integers(0, n, (150, 2)),
                 train_masks=masks[0], val_masks=masks[1],
                 test_masks=masks[2])
    return tmp_path


def test_heterophily_runs_every_model_on_every_split(heterophily,
                                                     tiny_graphs):
    out = tiny_graphs / "res"
    result = heterophily["main"](
        ["--root", str(tiny_graphs), "--datasets",
         "minesweeper,chameleon_filtered", "--splits", "0,1", "--hidden",
         "8", "--heads", "2", "--layers", "1,2", "--steps", "4",
         "--eval-every", "2", "--lr", "1e-2", "--out", str(out)])
    assert not result["full_recipe"]
    for name in ("minesweeper", "chameleon_filtered"):
        for model in ("gat", "diff", "gcn", "none"):
            cell = result["summary"][name][model]
            assert 0 <= cell["mean"] <= 100 and len(cell["layers"]) == 2
            assert set(cell["layers"]) <= {1, 2}
    saved = json.loads((out / "results.json").read_text())
    assert saved["summary"] == result["summary"]
    table = (out / "table.md").read_text()
    assert "REDUCED" in table and "DiffGATConv" in table
    assert (out / "plot.png").read_bytes()[:4] == b"\x89PNG"


def test_heterophily_residual_blocks_are_the_recipe(heterophily):
    net = heterophily["Net"]("diff", 5, 2, hidden=8, heads=2, layers=3,
                             dropout=0.0)
    assert len(net.convs) == len(net.norms) == len(net.ffns) == 3
    x, edge_index = torch.randn(6, 5), torch.tensor([[0, 1, 2], [1, 2, 0]])
    assert net(x, edge_index).shape == (6, 2)
    conv = net.convs[0]
    assert conv.heads == 2 and conv.out_channels == 4


def test_heterophily_bad_options(heterophily, tmp_path):
    with pytest.raises(SystemExit) as info:
        heterophily["main"](["--datasets", "cora", "--out",
                             str(tmp_path / "res")])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        heterophily["main"](["--root", str(tmp_path), "--datasets",
                             "tolokers", "--out", str(tmp_path / "res")])
    assert "tolokers.npz is absent" in str(info.value)
    assert not (tmp_path / "res").exists()
