"""The list of command modules mounted on the ``dsgdn`` app."""

from dsgdn_pyg.cli import bench, features, predict, train

REGISTRARS = [train.register, features.register, predict.register,
              bench.register]
