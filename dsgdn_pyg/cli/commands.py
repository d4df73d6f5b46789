"""The list of command modules mounted on the ``dsgdn`` app."""

from dsgdn_pyg.cli import attention, bench, experiment, features, predict, train

REGISTRARS = [train.register, features.register, predict.register,
              bench.register, experiment.register, attention.register]
