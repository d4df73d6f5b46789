"""``python -m dsgdn_pyg``: the ``dsgdn`` command, where the console script
is not on ``PATH``."""

from dsgdn_pyg.cli.app import main

main()
