"""``python -m dsgdn_pyg.cli``: the ``dsgdn`` command."""

from dsgdn_pyg.cli.app import main

main()
