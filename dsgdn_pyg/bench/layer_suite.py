"""``dsgdn bench layers``: :class:`~dsgdn_pyg.nn.DiffGATConv` against PyG's
attention convolutions (``GATConv``, ``GATv2Conv``, ``TransformerConv``) as
single layers at the same input width, heads and head width.

Cases (:data:`CASES`):

- ``cora``: the Cora citation graph (2,708 nodes, 10,556 edges),
  1,433 -> 8 heads x 8, read offline with PyG's ``Planetoid``;
- ``random-100k``: 100,000 nodes and 1,000,000 uniformly random directed
  edges, 64 -> 4 x 16;
- ``tolokers``: the ``tolokers`` graph of Platonov et al. (ICLR 2023),
  11,758 nodes, its 519,000 undirected edges in both directions (about a
  million, average degree 88), random 64-wide inputs, 64 -> 4 x 16;
- ``sampled-1m``: mini-batches of a 1,000,000-node, 10,000,000-edge random
  graph, 1,024 seed nodes and two hops each, 64 -> 4 x 16. With ``pyg-lib``
  or ``torch-sparse`` installed they come from PyG's ``NeighborLoader``
  (10 neighbours per hop); without either (``NeighborLoader`` cannot sample
  then) they are the full two-hop neighbourhoods of the seeds from PyG's
  :func:`~torch_geometric.utils.k_hop_subgraph`, and the record says so.

A case whose data is absent is reported ``not run`` with the reason. Every
case checks that each layer's output has the expected shape and is finite,
then measures the layers side by side (timed calls interleaved, median of
repeats) in two modes: ``forward_backward`` (training mode, gradients of
every parameter) and ``inference`` (eval mode, no autograd), with the peak
memory of one call (CPU: the process's resident peak above its baseline,
live tensors only, see :mod:`dsgdn_pyg.bench.measure`; on CPU each case runs
in a fresh process; CUDA: ``max_memory_allocated``).
``DiffGATConv`` runs with its defaults and ``num_relations=None`` (the
graphs are untyped); the others with PyG's defaults.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import torch
from torch import Tensor

from dsgdn_pyg.bench.graphs import load_heterophilous
from dsgdn_pyg.bench.layer_config import (  # noqa: F401 (re-exported)
    CASES, CORA_RAW, LAYER_TITLES, LAYERS, MODES, WIDTHS, LayerSuiteConfig,
    default_planetoid_root)
from dsgdn_pyg.bench.layer_goals import key_ratios
from dsgdn_pyg.bench.measure import Timer


def case_problem(case: str, config: LayerSuiteConfig) -> Optional[str]:
    """Why :obj:`case` cannot run here (its data is absent), or
    :obj:`None`."""
    if case == "cora":
        raw = config.planetoid_path() / "Cora" / "raw"
        missing = [f for f in CORA_RAW if not (raw / f).is_file()]
        if missing:
            return f"Cora is not in {raw} (missing {missing[0]})"
    if case == "tolokers" and not config.tolokers_path().is_file():
        return f"{config.tolokers_path()} is absent"
    return None


def _random_graph(nodes: int, edges: int, generator: torch.Generator
                  ) -> Tensor:
    return torch.randint(nodes, (2, edges), generator=generator)


def sampler_name() -> str:
    """How ``sampled-1m`` draws its mini-batches on this installation."""
    import torch_geometric.typing as pyg_typing
    if pyg_typing.WITH_PYG_LIB or pyg_typing.WITH_TORCH_SPARSE:
        return "NeighborLoader"
    return "k_hop_subgraph"


def build_graphs(case: str, config: LayerSuiteConfig
                 ) -> Tuple[List[Tuple[Tensor, Tensor]], dict]:
    """The ``(x, edge_index)`` graphs of :obj:`case` (one, or the
    mini-batches of ``sampled-1m``) and what to record about them."""
    from torch_geometric.utils import coalesce

    generator = torch.Generator().manual_seed(config.seed)
    in_channels = WIDTHS[case][0]
    info: dict = {}
    if case == "cora":
        from torch_geometric.datasets import Planetoid
        raw = config.planetoid_path() / "Cora" / "raw"
        with tempfile.TemporaryDirectory() as tmp:
            # Planetoid writes processed files beside raw/: a copy.
            shutil.copytree(raw, Path(tmp) / "Cora" / "raw")
            data = Planetoid(tmp, "Cora")[0]
        graphs = [(data.x, data.edge_index)]
    elif case == "random-100k":
        n = config.random_nodes
        edge_index = coalesce(_random_graph(n, config.random_edges,
                                            generator), num_nodes=n)
        graphs = [(torch.randn(n, in_channels, generator=generator),
                   edge_index)]
    elif case == "tolokers":
        data = load_heterophilous(config.tolokers_path())
        graphs = [(torch.randn(data.num_nodes, in_channels,
                               generator=generator), data.edge_index)]
    elif case == "sampled-1m":
        graphs, info = _sampled_batches(config, generator)
    else:
        raise ValueError(f"case: expected one of {CASES}, got {case!r}")
    info.update(nodes=sum(x.size(0) for x, _ in graphs),
                edges=sum(int(e.size(1)) for _, e in graphs),
                max_edges=max(int(e.size(1)) for _, e in graphs),
                graphs=len(graphs))
    return graphs, info


def _sampled_batches(config: LayerSuiteConfig, generator: torch.Generator
                     ) -> Tuple[List[Tuple[Tensor, Tensor]], dict]:
    from torch_geometric.data import Data
    from torch_geometric.utils import k_hop_subgraph

    n, hops = config.sampled_nodes, len(config.num_neighbors)
    in_channels = WIDTHS["sampled-1m"][0]
    edge_index = _random_graph(n, config.sampled_edges, generator)
    x = torch.randn(n, in_channels, generator=generator)
    seeds = torch.randperm(n, generator=generator)[
        :config.batch_size * config.batches].view(config.batches, -1)
    info = dict(sampler=sampler_name(), full_nodes=n,
                full_edges=config.sampled_edges,
                seeds_per_batch=config.batch_size)
    if info["sampler"] == "NeighborLoader":
        from torch_geometric.loader import NeighborLoader
        loader = NeighborLoader(Data(x=x, edge_index=edge_index),
                                list(config.num_neighbors),
                                input_nodes=seeds.flatten(),
                                batch_size=config.batch_size)
        graphs = [(b.x, b.edge_index) for b, _ in
                  zip(loader, range(config.batches))]
        info["num_neighbors"] = list(config.num_neighbors)
        return graphs, info
    graphs = []
    for batch in seeds:
        subset, sub_edges, _, _ = k_hop_subgraph(
            batch, hops, edge_index, relabel_nodes=True, num_nodes=n)
        graphs.append((x[subset], sub_edges))
    info["note"] = (f"NeighborLoader needs pyg-lib or torch-sparse, neither "
                    f"installed: full {hops}-hop neighbourhoods of the seeds "
                    f"(k_hop_subgraph), not {list(config.num_neighbors)} "
                    f"sampled neighbours")
    return graphs, info


def make_layer(name: str, case: str, seed: int) -> torch.nn.Module:
    """Layer :obj:`name` at :obj:`case`'s widths, seeded."""
    from torch_geometric.nn import GATConv, GATv2Conv, TransformerConv

    from dsgdn_pyg.nn import DiffGATConv

    in_channels, heads, channels = WIDTHS[case]
    torch.manual_seed(seed)
    if name == "gat":
        return GATConv(in_channels, channels, heads=heads)
    if name == "gatv2":
        return GATv2Conv(in_channels, channels, heads=heads)
    if name == "transformer":
        return TransformerConv(in_channels, channels, heads=heads)
    if name == "diff":
        return DiffGATConv(in_channels, channels, heads=heads,
                           num_relations=None)
    raise ValueError(f"layer: expected one of {LAYERS}, got {name!r}")


def _runner(layer: torch.nn.Module, graphs, mode: str) -> Callable[[], None]:
    if mode == "inference":
        layer.eval()

        def run():
            with torch.no_grad():
                for x, edge_index in graphs:
                    layer(x, edge_index)
        return run
    layer.train()

    def run():
        layer.zero_grad(set_to_none=True)
        for x, edge_index in graphs:
            layer(x, edge_index).sum().backward()
    return run


def run_case(case: str, config: LayerSuiteConfig, device: torch.device
             ) -> dict:
    """Checks and measures one case in this process; returns its record."""
    from dsgdn_pyg.bench.suite import _load_average

    if config.threads:
        torch.set_num_threads(config.threads)
    in_channels, heads, channels = WIDTHS[case]
    record = dict(name=case, status="ok", in_channels=in_channels,
                  heads=heads, channels=channels)
    timer = Timer(device)
    if timer.memory is not None:  # no large freed blocks before the peaks
        timer.memory.hold()
    graphs, info = build_graphs(case, config)
    record.update(info)
    graphs = [(x.to(device), e.to(device)) for x, e in graphs]
    layers = {name: make_layer(name, case, config.seed).to(device)
              for name in config.layers}
    x0, e0 = graphs[0]
    for name, layer in layers.items():
        layer.eval()
        with torch.no_grad():
            out = layer(x0, e0)
        if tuple(out.shape) != (x0.size(0), heads * channels) or \
                not torch.isfinite(out).all():
            raise RuntimeError(f"bench layers: {LAYER_TITLES[name]} on {case} "
                               f"gave shape {tuple(out.shape)} or non-finite "
                               f"values")
    record["load_before"] = _load_average()
    # Every peak before any timed call: in a fresh process, the heap then
    # holds no freed blocks of another layer's or mode's calls.
    peaks = {mode: timer.peaks({name: _runner(layer, graphs, mode)
                                for name, layer in layers.items()})
             for mode in MODES}
    if timer.memory is not None:
        timer.memory.release()
    results: Dict[str, dict] = {}
    for mode in MODES:  # _runner sets the mode: built again per timed mode
        measured = timer.measure_side_by_side(
            {name: _runner(layer, graphs, mode)
             for name, layer in layers.items()},
            config.repeats, config.warmup, record["nodes"],
            config.max_seconds, peaks=peaks[mode])
        for name, m in measured.items():
            results.setdefault(name, {})[mode] = m.to_dict()
        if device.type == "cuda":
            torch.cuda.empty_cache()
    record["load_after"] = _load_average()
    record["results"] = results
    return record


def run_case_isolated(case: str, config: LayerSuiteConfig,
                      device: torch.device) -> dict:
    """:func:`run_case` in a fresh process (``dsgdn_pyg.bench.worker``); a
    crash or a time-out there is recorded, not raised."""
    payload = json.dumps(dict(suite="layers", case=case,
                              config=config.to_dict(), device=str(device)))
    cmd = [sys.executable, "-m", "dsgdn_pyg.bench.worker"]
    try:
        proc = subprocess.run(cmd, input=payload, capture_output=True,
                              text=True, timeout=config.timeout,
                              env=dict(os.environ))
    except subprocess.TimeoutExpired:
        return dict(name=case, status="error",
                    note=f"timed out after {config.timeout:.0f} s")
    if proc.returncode != 0:
        tail = (proc.stderr or "").strip().splitlines()[-1:] or [""]
        return dict(name=case, status="error",
                    note=f"worker exited with {proc.returncode}: {tail[0]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_layer_suite(config: LayerSuiteConfig,
                    progress: Optional[Callable[[str], None]] = None) -> dict:
    """Runs every case of :obj:`config`; returns the result (environment,
    config, one record per case, the key ratios)."""
    from dsgdn_pyg.bench.suite import environment, resolve_device

    progress = progress or (lambda line: None)
    device = resolve_device(config.device)
    if config.threads:
        torch.set_num_threads(config.threads)
    isolate = config.isolate if config.isolate is not None else \
        device.type == "cpu"
    result = dict(suite="layers", environment=environment(device),
                  config=config.to_dict(), isolated=isolate, cases=[])
    for i, case in enumerate(config.cases, 1):
        problem = case_problem(case, config)
        if problem:
            progress(f"[{i}/{len(config.cases)}] {case}: not run ({problem})")
            result["cases"].append(dict(name=case, status="not run",
                                        note=problem))
            continue
        progress(f"[{i}/{len(config.cases)}] {case}")
        record = (run_case_isolated(case, config, device) if isolate else
                  run_case(case, config, device))
        result["cases"].append(record)
    result["ratios"] = key_ratios(result)
    return result
