"""Errors of dsgdn-pyg."""


class DataError(ValueError):
    """Bad input data: the message is one line naming the file, the dialogue
    or field, and what was expected. The CLI prints it and exits with 2."""
