"""The evidence studies' examples (``examples/edge_noise.py``,
``examples/heterophily.py``): their noise, their model and their output
on tiny inputs, their checks of the options and of ``--out`` before any
training, and what an interrupted run leaves."""

import json
import runpy
from pathlib import Path

import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from test_examples import error_line

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


def test_edge_noise_without_data_is_one_line(edge_noise, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        edge_noise["main"](["--root", str(tmp_path), "--dataset",
                            "CiteSeer", "--out", str(tmp_path / "out")])
    assert info.value.code == 2
    message = capsys.readouterr().err
    assert message.startswith("edge_noise.py: CiteSeer is not in ")
    assert "ind.citeseer.x" in message and message.count("\n") == 1
    assert not (tmp_path / "out").exists()


def no_training(*args, **kwargs):
    raise AssertionError("trained although the input is bad")


@pytest.mark.parametrize("argv, option, words", [
    (["--noise", "0,50,0"], "--noise", "0 is given twice"),
    (["--noise", "-5"], "--noise", "-5 is out of range"),
    (["--noise", "x"], "--noise", "not an integer"),
    (["--seeds", "0,0"], "--seeds", "0 is given twice"),
    (["--seeds", "a"], "--seeds", "not an integer"),
    (["--layers", "gat,diff,gat"], "--layers", "'gat' is given twice"),
    (["--layers", "gcn"], "--layers", "unknown 'gcn'"),
    (["--epochs", "0"], "--epochs", "out of range"),
    (["--noise-seed", "-1"], "--noise-seed", "out of range")])
def test_edge_noise_bad_options(edge_noise, tmp_path, capsys, monkeypatch,
                                argv, option, words):
    monkeypatch.setitem(edge_noise["main"].__globals__, "run", no_training)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as info:
        # No graph in --root: an option accepted by mistake exits otherwise.
        edge_noise["main"](["--root", str(tmp_path), "--out", str(out)] +
                           argv)
    assert info.value.code == 2
    error_line(capsys, "edge_noise.py", option, words, "expected")
    assert not out.exists()


def test_edge_noise_any_share_adds_whole_pairs(edge_noise):
    # A share whose last step is under one undirected pair stops there
    # (it crashed inside add_random_edge, or never ended).
    data = tiny_planetoid(40)
    E = data.num_edges
    for percent in (1, 2, 3, 7, 10, 30, 33):
        noisy = edge_noise["noisy_graph"](data, percent, 7)
        target = E * (1 + percent / 100)
        assert noisy.is_undirected()
        assert abs(target - noisy.num_edges) < 2, percent  # rounded


def bad_outs(tmp_path: Path):
    """``--out`` values that cannot be written and the words of their
    refusal."""
    (tmp_path / "afile").write_text("x")
    return [(tmp_path / "afile", "is a file"),
            (tmp_path / "afile" / "sub", "is a file"),
            (Path("/proc/x"), "cannot create files"),
            # '' would be the current folder, beside its other files.
            ("", "expected a folder, got ''")]


def test_edge_noise_checks_out_before_training(edge_noise, tmp_path, capsys,
                                               monkeypatch):
    monkeypatch.setitem(edge_noise["main"].__globals__, "run", no_training)
    for out, words in bad_outs(tmp_path):
        with pytest.raises(SystemExit) as info:
            # Checked before the data too: --root holds no graph.
            edge_noise["main"](["--root", str(tmp_path), "--out", str(out)])
        assert info.value.code == 2, out
        error_line(capsys, "edge_noise.py", "--out", str(out), words)


def tiny_planetoid(num_nodes: int = 30) -> Data:
    """A Planetoid-like graph: a ring, 5 features, 3 classes, masks."""
    g = torch.Generator().manual_seed(0)
    ring = torch.arange(num_nodes)
    src = torch.cat([ring, (ring + 1) % num_nodes])
    dst = torch.cat([(ring + 1) % num_nodes, ring])
    masks = torch.arange(num_nodes) % 3
    return Data(x=torch.randn(num_nodes, 5, generator=g),
                y=torch.randint(0, 3, (num_nodes, ), generator=g),
                edge_index=torch.stack([src, dst]), train_mask=masks == 0,
                val_mask=masks == 1, test_mask=masks == 2)


@pytest.fixture
def tiny_edge_noise(edge_noise, tmp_path, monkeypatch):
    """edge_noise.py on :func:`tiny_planetoid` (the dataset check and the
    loading patched), 1 epoch, one layer and one seed: ``call(argv)``."""
    names = edge_noise["main"].__globals__
    monkeypatch.setitem(names, "missing_planetoid", lambda *args: None)
    monkeypatch.setitem(names, "load_cora", lambda *args: tiny_planetoid())

    def call(out, *argv, entry="main"):
        return edge_noise[entry](["--root", str(tmp_path), "--out", str(out),
                                  "--epochs", "1", "--seeds", "0",
                                  "--layers", "gat", "--noise", "0,50"] +
                                 list(argv))

    return call


def old_results(out: Path) -> dict:
    """An earlier run's files in :obj:`out`; their contents."""
    out.mkdir()
    files = {"results.json": '{"old": true}\n', "table.md": "old table\n",
             "plot.png": "old plot"}
    for name, text in files.items():
        (out / name).write_text(text)
    return files


def test_edge_noise_refuses_a_folder_with_results(tiny_edge_noise, tmp_path,
                                                  capsys, edge_noise,
                                                  monkeypatch):
    # Refused before training: even a regression writes nothing here.
    monkeypatch.setitem(edge_noise["main"].__globals__, "run", no_training)
    for name in ("results.json", "table.md", "plot.png",
                 "results.partial.json"):
        out = tmp_path / f"with-{name}"
        out.mkdir()
        (out / name).write_text("earlier")
        with pytest.raises(SystemExit) as info:
            tiny_edge_noise(out)
        assert info.value.code == 2
        error_line(capsys, "edge_noise.py", "--out", str(out), name,
                   "--overwrite")
        assert [p.name for p in out.iterdir()] == [name]
        assert (out / name).read_text() == "earlier"
    # The repository's committed results are such a folder.
    default = Path(__file__).resolve().parents[1] / "results" / \
        "edge-noise-cora"
    if (default / "results.json").is_file():
        before = (default / "results.json").read_bytes()
        with pytest.raises(SystemExit) as info:
            tiny_edge_noise(default)
        assert info.value.code == 2
        assert (default / "results.json").read_bytes() == before


def test_edge_noise_overwrite_replaces_at_the_end(tiny_edge_noise, tmp_path,
                                                  capsys):
    out = tmp_path / "out"
    old_results(out)
    (out / "results.partial.json").write_text('{"stale": true}\n')
    result = tiny_edge_noise(out, "--overwrite")
    assert sorted(p.name for p in out.iterdir()) == ["plot.png",
                                                     "results.json",
                                                     "table.md"]
    saved = json.loads((out / "results.json").read_text())
    assert saved["noise_percent"] == [0, 50] == result["noise_percent"]
    assert "unfinished" not in saved
    assert "+50 % edges" in (out / "table.md").read_text()
    assert (out / "plot.png").read_bytes()[:4] == b"\x89PNG"
    assert capsys.readouterr().out.endswith(f"results: {out}\n")


def test_edge_noise_interrupted_keeps_the_earlier_run(
        tiny_edge_noise, edge_noise, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    files = old_results(out)
    names = edge_noise["main"].__globals__
    real_run, calls = names["run"], []

    def run_then_interrupt(*args):
        calls.append(args)
        if len(calls) == 2:  # the second noise level
            raise KeyboardInterrupt
        return real_run(*args)

    monkeypatch.setitem(names, "run", run_then_interrupt)
    assert tiny_edge_noise(out, "--overwrite", entry="cli") == 130
    err = capsys.readouterr().err
    partial = out / "results.partial.json"
    assert err == (f"edge_noise.py: interrupted; {partial} holds the 1 of 2 "
                   f"noise levels finished so far\n")
    # The earlier run's three files as they were, beside the new progress.
    for name, text in files.items():
        assert (out / name).read_text() == text
    saved = json.loads(partial.read_text())
    assert saved["noise_percent"] == [0] and list(saved["edges"]) == ["0"]
    assert saved["unfinished"] == "1 of 2 noise levels"


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
    assert not (out / "results.partial.json").exists()
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


def test_heterophily_bad_options(heterophily, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        heterophily["main"](["--datasets", "cora", "--out",
                             str(tmp_path / "res")])
    assert info.value.code == 2
    error_line(capsys, "heterophily.py", "--datasets", "cora")
    with pytest.raises(SystemExit) as info:
        heterophily["main"](["--root", str(tmp_path), "--datasets",
                             "tolokers", "--out", str(tmp_path / "res")])
    # A missing dataset is bad input too: status 2, one line.
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("heterophily.py: ") and err.count("\n") == 1
    assert "tolokers.npz is absent" in err and "--root" in err
    assert not (tmp_path / "res").exists()


def tiny_run(data, metric, model, split, layers, args):
    """A stand-in for training: the same validation metric at every
    depth."""
    return dict(val=0.5, test=0.25, step=args.steps)


@pytest.mark.parametrize("argv, option", [
    (["--heads", "0"], "--heads"), (["--threads", "-1"], "--threads"),
    (["--threads", "0"], "--threads"), (["--lr", "-1"], "--lr"),
    (["--lr", "0"], "--lr"), (["--lr", "nan"], "--lr"),
    (["--dropout", "2"], "--dropout"), (["--dropout", "1"], "--dropout"),
    (["--dropout", "-0.1"], "--dropout"), (["--hidden", "0"], "--hidden"),
    (["--hidden", "6", "--heads", "4"], "--hidden"),
    (["--steps", "0"], "--steps"), (["--eval-every", "0"], "--eval-every"),
    (["--splits", "0,0"], "--splits"), (["--splits", "10"], "--splits"),
    (["--splits", "a"], "--splits"), (["--layers", "1,1"], "--layers"),
    (["--layers", "0"], "--layers"),
    (["--models", "gat,gat"], "--models"),
    (["--datasets", "minesweeper,minesweeper"], "--datasets")])
def test_heterophily_bad_options_before_training(
        heterophily, tiny_graphs, capsys, monkeypatch, argv, option):
    monkeypatch.setitem(heterophily["main"].__globals__, "run", no_training)
    out = tiny_graphs / "res"
    with pytest.raises(SystemExit) as info:
        heterophily["main"](["--root", str(tiny_graphs), "--datasets",
                             "minesweeper", "--hidden", "8", "--heads", "2",
                             "--out", str(out)] + argv)
    assert info.value.code == 2
    line = error_line(capsys, "heterophily.py", option, "expected")
    # That option's rule, not a sentence listing every option's.
    named = {o for o in ("--hidden", "--heads", "--threads", "--lr",
                         "--dropout", "--steps", "--eval-every", "--splits",
                         "--layers", "--models", "--datasets", "--out")
             if o != option and o in line}
    # (--hidden's rule: a multiple of --heads.)
    assert named == ({"--heads"} if "multiple" in line else set())
    assert not out.exists()


def test_heterophily_checks_out_before_training(heterophily, tiny_graphs,
                                                capsys, monkeypatch):
    monkeypatch.setitem(heterophily["main"].__globals__, "run", no_training)
    for out, words in bad_outs(tiny_graphs) + [
            (tiny_graphs / "held", "already holds results")]:
        if isinstance(out, Path) and out.name == "held":
            old_results(out)
        with pytest.raises(SystemExit) as info:
            heterophily["main"](["--root", str(tiny_graphs), "--datasets",
                                 "minesweeper", "--out", str(out)])
        assert info.value.code == 2, out
        error_line(capsys, "heterophily.py", "--out", str(out), words)
    assert (tiny_graphs / "held" / "table.md").read_text() == "old table\n"


def test_heterophily_reads_every_dataset_before_out_changes(
        heterophily, tiny_graphs, capsys, monkeypatch):
    monkeypatch.setitem(heterophily["main"].__globals__, "run", no_training)
    (tiny_graphs / "chameleon_filtered.npz").write_bytes(b"not a graph")
    out = tiny_graphs / "res"
    out.mkdir()
    (out / "results.partial.json").write_text("an earlier run's progress\n")
    with pytest.raises(SystemExit) as info:
        heterophily["main"](["--root", str(tiny_graphs), "--datasets",
                             "minesweeper,chameleon_filtered", "--out",
                             str(out), "--overwrite"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"heterophily.py: {tiny_graphs}/chameleon_filtered"
                          f".npz: cannot be read") and err.count("\n") == 1
    assert (out / "results.partial.json").read_text() == \
        "an earlier run's progress\n"


def test_heterophily_full_recipe_label(heterophily, tiny_graphs,
                                       monkeypatch):
    """``full_recipe`` (and the published figures in the table) only for
    every reduced dimension at the recipe, splits included, whatever the
    order of --layers and --splits."""
    monkeypatch.setitem(heterophily["main"].__globals__, "run", tiny_run)

    def label(name, *argv):
        out = tiny_graphs / name
        result = heterophily["main"](["--root", str(tiny_graphs),
                                      "--datasets", "minesweeper",
                                      "--models", "gat", "--out", str(out)] +
                                     list(argv))
        return result, (out / "table.md").read_text()

    result, table = label("full", "--layers", "5,3,1,2,4", "--splits",
                          "9,8,7,6,5,4,3,2,1,0")
    assert result["full_recipe"] and "(published 92.01" in table
    assert "REDUCED" not in table
    # Depths are tried from the shallowest: a tie goes to the shallower.
    assert result["recipe"]["layers"] == [1, 2, 3, 4, 5]
    assert set(result["summary"]["minesweeper"]["gat"]["layers"]) == {1}
    for name, argv in (("splits", ["--splits", "0"]),
                       ("depths", ["--layers", "1,2,3,4"]),
                       ("dropout", ["--dropout", "0.1"]),
                       ("steps", ["--steps", "999"])):
        result, table = label(name, *argv)
        assert not result["full_recipe"], name
        assert "REDUCED" in table and "published 92.01" not in table, name
    is_full = heterophily["is_full_recipe"]
    assert is_full(dict(heterophily["RECIPE"]), list(range(10)))
    assert not is_full(dict(heterophily["RECIPE"]), list(range(9)))


def test_heterophily_interrupted_keeps_the_earlier_run(
        heterophily, tiny_graphs, capsys, monkeypatch):
    out = tiny_graphs / "res"
    files = old_results(out)
    calls = []

    def run_then_interrupt(*args):
        calls.append(args)
        if len(calls) == 2:  # the second model
            raise KeyboardInterrupt
        return tiny_run(*args)

    monkeypatch.setitem(heterophily["main"].__globals__, "run",
                        run_then_interrupt)
    code = heterophily["cli"](["--root", str(tiny_graphs), "--datasets",
                               "minesweeper", "--models", "gat,diff",
                               "--splits", "0", "--layers", "1", "--out",
                               str(out), "--overwrite"])
    assert code == 130
    partial = out / "results.partial.json"
    assert capsys.readouterr().err == (
        f"heterophily.py: interrupted; {partial} holds the 1 of 2 (dataset, "
        f"model) runs finished so far\n")
    for name, text in files.items():
        assert (out / name).read_text() == text
    saved = json.loads(partial.read_text())
    assert list(saved["summary"]["minesweeper"]) == ["gat"]
    assert saved["unfinished"] == "1 of 2 (dataset, model) runs"
    # Rerun with --overwrite: the finished run replaces all, progress goes.
    monkeypatch.setitem(heterophily["main"].__globals__, "run", tiny_run)
    assert heterophily["cli"](["--root", str(tiny_graphs), "--datasets",
                               "minesweeper", "--models", "gat,diff",
                               "--splits", "0", "--layers", "1", "--out",
                               str(out), "--overwrite"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["plot.png",
                                                     "results.json",
                                                     "table.md"]
    assert list(json.loads((out / "results.json").read_text())["summary"][
        "minesweeper"]) == ["gat", "diff"]


def test_study_docstrings_cite_the_differential_attention():
    for script in ("edge_noise.py", "heterophily.py"):
        doc = runpy.run_path(str(EXAMPLES / script))["__doc__"]
        assert "Eq. 6-7" not in doc, script
        assert "Sec. 4.5, Eq. 9-18" in " ".join(doc.split()), script
        assert "results.partial.json" in doc and "--overwrite" in doc
    doc = runpy.run_path(str(EXAMPLES / "heterophily.py"))["__doc__"]
    assert "expected new defaults" not in doc
    assert "the layer's defaults" in doc
