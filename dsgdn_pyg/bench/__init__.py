"""``dsgdn bench``: the sparse DiffRGCN block against the dense-adjacency
formulation of the published code and PyG's GATConv, on dialogue graphs of
growing length, plus one end-to-end training epoch of the full model.

The names below are imported on first use, so that the CLI can check its
options (:mod:`dsgdn_pyg.bench.config`, :mod:`dsgdn_pyg.bench.layer_config`)
without importing torch and PyG first (seconds on a laptop).
"""

from dsgdn_pyg.lazy_exports import lazy_exports

_WHERE = {
    "BenchConfig": "config", "quick_config": "config",
    "LayerSuiteConfig": "layer_config",
    "GATBlock": "layers", "make_layers": "layers",
    "Measurement": "measure", "Timer": "measure",
    "is_out_of_memory": "measure",
    "format_table": "report", "key_ratios": "report", "plot": "report",
    "table_rows": "report", "write_json": "report",
    "BenchResult": "suite", "Workload": "suite", "plan": "suite",
    "run_benchmark": "suite", "run_workload": "suite",
    "GraphBatch": "workloads", "batch_size_for_length": "workloads",
    "epoch_batches": "workloads", "iemocap_train_lengths": "workloads",
    "make_graph_batch": "workloads",
}

__all__ = sorted(_WHERE)

__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
