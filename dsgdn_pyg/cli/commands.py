"""The list of command modules mounted on the ``dsgdn`` app."""

from dsgdn_pyg.cli import train

REGISTRARS = [train.register]
