"""Errors of dsgdn-pyg."""


class DataError(ValueError):
    """Bad input data: the message is one line naming the file, the dialogue
    or field, and what was expected. The CLI prints it and exits with 2."""


class MissingExtraError(ImportError):
    """An optional dependency is not installed: the message names the
    ``pip install "dsgdn-pyg[extra]"`` that brings it. The CLI prints it and
    exits with 2."""
