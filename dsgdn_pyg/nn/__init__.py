"""Graph layers of AMB-DSGDN."""

from dsgdn_pyg.nn.csr_aggregation import csr_weighted_sum
from dsgdn_pyg.nn.diff_gat_conv import DiffGATConv, default_lambda_init
from dsgdn_pyg.nn.diff_rgcn import DiffRGCN
from dsgdn_pyg.nn.dense_diff_gat import (DenseDiffGAT, DenseDiffGATConv,
                                         DenseDiffRGCN)

__all__ = [
    "DenseDiffGAT",
    "DenseDiffGATConv",
    "DenseDiffRGCN",
    "DiffGATConv",
    "DiffRGCN",
    "csr_weighted_sum",
    "default_lambda_init",
]
