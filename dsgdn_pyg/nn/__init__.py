"""Graph layers of AMB-DSGDN."""

from dsgdn_pyg.nn.diff_gat_conv import DiffGATConv, default_lambda_init
from dsgdn_pyg.nn.diff_rgcn import DiffRGCN

__all__ = ["DiffGATConv", "DiffRGCN", "default_lambda_init"]
