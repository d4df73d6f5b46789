"""The command line shared by ``paths.py`` and ``profile_block.py``: a bad
option is one line (``<script>: error: <why>``, exit 2), Ctrl-C one line
(``<script>: interrupted``, exit 130). Only the standard library: the
scripts check their options before torch loads."""

import argparse
import sys


class Parser(argparse.ArgumentParser):
    """argparse, its errors on one line (``<prog>: error: <why>``, exit 2)
    without the usage above them."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def script_parser(prog, doc, **kwargs):
    """A :class:`Parser` for the script :obj:`prog`, described by the first
    paragraph of its docstring :obj:`doc`."""
    description = " ".join(doc.split("\n\n")[0].split())
    return Parser(prog=prog, description=description, **kwargs)


def int_at_least(minimum):
    """An argparse ``type``: an integer >= :obj:`minimum`; argparse names
    the option in the error."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(
                f"expected an integer >= {minimum}, got {text!r}")
        return value
    return parse


def run_script(prog, parse_args, run, argv=None):
    """``run(parse_args(argv))`` and exit 0; a bad option has exited 2 in
    ``parse_args``, Ctrl-C anywhere in ``run`` (its imports of torch
    included) is one line and exit 130."""
    try:
        run(parse_args(argv))
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    return 0
