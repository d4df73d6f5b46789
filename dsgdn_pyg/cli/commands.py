"""The list of command modules mounted on the ``dsgdn`` app."""

REGISTRARS = []
