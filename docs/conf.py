"""Sphinx configuration of the dsgdn-pyg documentation.

Builds offline: no intersphinx, MathJax only referenced by URL, no data or
GPU needed. Build with ``python -m sphinx -W --keep-going -b html docs
docs/_build/html`` from the repository root.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the package, from a fresh clone
sys.path.insert(0, os.path.join(HERE, "_ext"))  # typer_cli, the CLI reference

import dsgdn_pyg  # noqa: E402

project = "dsgdn-pyg"
author = "dsgdn-pyg developers"
copyright = "dsgdn-pyg developers"
version = release = dsgdn_pyg.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "myst_parser",
    "typer_cli",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext"]
# Links to a section of another guide, e.g. benchmarks.md#datasets.
myst_heading_anchors = 3

# The docstrings follow PyG's house style: Google-style "Args:" sections
# read by napoleon, :obj:/:class: roles and :math: / .. math:: equations.
napoleon_google_docstring = True
napoleon_numpy_docstring = False
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
# Methods without a docstring of their own stay out, rather than showing
# their base class's (torch's, PyG's) text and its cross-references.
autodoc_inherit_docstrings = False
autodoc_default_options = {"members": True, "show-inheritance": True}
autosummary_generate = False

# The guides are MyST markdown; the README links to them.
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3

html_theme = "furo"
html_title = f"dsgdn-pyg {release}"
