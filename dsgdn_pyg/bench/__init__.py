"""``dsgdn bench``: the sparse DiffRGCN block against the dense-adjacency
formulation of the published code and PyG's GATConv, on dialogue graphs of
growing length, plus one end-to-end training epoch of the full model."""

from dsgdn_pyg.bench.layers import GATBlock, make_layers
from dsgdn_pyg.bench.measure import Measurement, Timer, is_out_of_memory
from dsgdn_pyg.bench.report import (format_table, key_ratios, plot,
                                    table_rows, write_json)
from dsgdn_pyg.bench.suite import (BenchConfig, BenchResult, Workload, plan,
                                   quick_config, run_benchmark, run_workload)
from dsgdn_pyg.bench.workloads import (GraphBatch, batch_size_for_length,
                                       epoch_batches, iemocap_train_lengths,
                                       make_graph_batch)

__all__ = [
    "BenchConfig", "BenchResult", "GATBlock", "GraphBatch", "Measurement",
    "Timer", "Workload", "batch_size_for_length", "epoch_batches",
    "format_table", "iemocap_train_lengths", "is_out_of_memory",
    "key_ratios", "make_graph_batch", "make_layers", "plan", "plot",
    "quick_config", "run_benchmark", "run_workload", "table_rows",
    "write_json",
]
