"""The ``dsgdn`` command line. Thin: every command calls into the library."""

from dsgdn_pyg.cli.app import app, main

__all__ = ["app", "main"]
