"""Runs ``dsgdn`` in a subprocess that kills itself (SIGKILL, or SIGINT)
at an exact point, for the resume and fault-injection tests.

``python tests/fault_runner.py MODE N SIGNAL -- dsgdn arguments``; MODE:

- ``write``: in the middle of the N-th atomic file write (half the bytes in
  the temporary file),
- ``written``: right after the N-th atomic write is renamed into place
  (``written:NAME``: counting only the writes of files named NAME),
- ``batch``: after the N-th training loss is computed (mid-epoch),
- ``none``: no fault.
"""

import os
import signal
import sys
from pathlib import Path


def main(argv) -> None:
    mode, count, sig = argv[0], int(argv[1]), getattr(signal, argv[2])
    args = argv[argv.index("--") + 1:]
    calls = [0]

    def hit() -> bool:
        calls[0] += 1
        return calls[0] == count

    def die() -> None:
        os.kill(os.getpid(), sig)

    if sig == signal.SIGINT:
        # A process started in the background by a non-interactive shell
        # inherits SIGINT ignored, and Python then installs no handler:
        # the simulated Ctrl-C must act as a terminal's does.
        signal.signal(signal.SIGINT, signal.default_int_handler)

    import dsgdn_pyg.features.cache
    import dsgdn_pyg.features.store  # noqa: F401
    import dsgdn_pyg.io as io
    from dsgdn_pyg.training import trainer

    real_write = io.atomic_write

    def atomic_write(path, write):
        if mode == "write" and hit():
            def half(file):
                write(file)
                file.flush()
                file.truncate(max(file.tell() // 2, 1))
                file.flush()
                die()
            return real_write(path, half)
        real_write(path, write)
        if mode == "written" and hit() or \
                mode == f"written:{Path(path).name}" and hit():
            die()

    for module in list(sys.modules.values()):
        if getattr(module, "atomic_write", None) is real_write:
            module.atomic_write = atomic_write
    real_loss = trainer.amb_dsgdn_loss

    def loss(*a, **k):
        value = real_loss(*a, **k)
        if mode == "batch" and hit():
            die()
        return value

    trainer.amb_dsgdn_loss = loss
    sys.argv = ["dsgdn", *args]
    from dsgdn_pyg.cli import main as cli_main
    cli_main()


if __name__ == "__main__":
    main(sys.argv[1:])


def run(args, mode: str = "none", count: int = 0, sig: str = "SIGKILL",
        timeout: float = 300, **kwargs):
    """``dsgdn ARGS`` in a subprocess (one torch thread, so that the
    results are bit-identical between runs) with the fault of
    :func:`main`; returns the :class:`subprocess.CompletedProcess`."""
    import subprocess
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               COLUMNS="200")
    return subprocess.run(
        [sys.executable, __file__, mode, str(count), sig, "--",
         *[str(a) for a in args]],
        capture_output=True, text=True, timeout=timeout, env=env, **kwargs)


def killed(process) -> bool:
    """Whether :func:`run`'s process died of SIGKILL."""
    return process.returncode == -signal.SIGKILL


def temporaries(folder):
    """The temporary files of atomic writes under :obj:`folder`."""
    from dsgdn_pyg.io import TEMPORARY
    return [p for p in Path(folder).rglob(".*.tmp") if TEMPORARY.match(p.name)]


def run_contents(folder) -> dict:
    """What must be identical between an interrupted-then-resumed run and
    an uninterrupted one: every file's content (JSON without the
    timings), and every checkpoint's tensors (bit for bit) and values."""
    import json

    import torch
    timing = ("epoch_seconds", "seconds_per_epoch")
    out = {}
    for path in sorted(Path(folder).rglob("*")):
        if not path.is_file():
            continue
        name = str(path.relative_to(folder))
        if path.suffix == ".pt":
            out[name] = torch.load(path, weights_only=True)
            for record in out[name].get("history", []):
                record.pop("epoch_seconds")
        elif path.suffix in (".json", ".jsonl"):
            lines = path.read_text().splitlines() if path.suffix == ".jsonl" \
                else [path.read_text()]
            records = [json.loads(line) for line in lines if line]
            for record in records:
                for key in timing:
                    record.pop(key, None)
            out[name] = records
        elif path.suffix != ".md":  # report.md prints the timing
            out[name] = path.read_bytes()
    return out


def assert_same(a, b, where: str = "") -> None:
    """Equal nested values, tensors bit for bit."""
    import torch
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype \
            and a.shape == b.shape and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), \
            (where, sorted(set(a) ^ set(b)))
        for key in a:
            assert_same(a[key], b[key], f"{where}/{key}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, (where, a, b)
