"""Package names imported on first use (PEP 562), so that the CLI can answer
``--help`` and refuse a bad option without importing torch and PyG first
(seconds on a laptop)."""

import importlib
import sys
from typing import Callable, Dict, Tuple


def lazy_exports(package: str, where: Dict[str, str]
                 ) -> Tuple[Callable[[str], object], Callable[[], list]]:
    """The module-level ``__getattr__`` and ``__dir__`` of :obj:`package`,
    which imports each name of :obj:`where` from its submodule
    (``{"train_run": "trainer"}``) when it is first read."""
    def __getattr__(name: str):
        if name not in where:
            raise AttributeError(
                f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(f"{package}.{where[name]}")
        return getattr(module, name)

    def __dir__() -> list:
        return sorted(set(vars(sys.modules[package])) | set(where))
    return __getattr__, __dir__
