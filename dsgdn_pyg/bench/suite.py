"""The benchmark: which cases run, on what inputs, and how each one is
checked and measured.

Cases (:class:`Workload`):

- ``sweep``: dialogues of one length L for every L and window w of the
  configuration, :func:`~dsgdn_pyg.bench.workloads.batch_size_for_length`
  of them per batch;
- ``iemocap``: one epoch of the IEMOCAP training split's dialogue lengths in
  shuffled batches of 16 (w = 20), the dense side padded to the longest
  dialogue of each batch;
- ``huge``: one dialogue of 100,000 utterances, sparse layer only, in its
  own process.

Every case builds its inputs once, checks that the sparse and dense blocks
agree on them (eval mode), then measures the layers side by side (their
timed calls interleaved) forward only (eval mode, no autograd) and
forward+backward (training mode, dropout on, gradients of the input and
every parameter).
"""

import json
import os
import platform
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import torch

from dsgdn_pyg.bench.config import (  # noqa: F401 (re-exported)
    DEFAULT_LENGTHS, DEFAULT_WINDOWS, HUGE_LENGTH, LAYERS, BenchConfig,
    default_iemocap_path, quick_config)
from dsgdn_pyg.bench.layers import layer_runner, make_layers
from dsgdn_pyg.bench.measure import (Measurement, Timer, available_memory_mb,
                                     is_out_of_memory)
from dsgdn_pyg.bench.output import cpu_model
from dsgdn_pyg.bench.workloads import (batch_size_for_length, epoch_batches,
                                       iemocap_train_lengths,
                                       make_graph_batch)

MODES = ("forward", "forward_backward")
#: Outputs of the sparse and dense blocks must agree this closely.
AGREEMENT_TOLERANCE = 1e-4
#: Bytes per [B, L, L] entry a dense block keeps alive in forward+backward
#: (about a dozen [B, 2H, L, L] float maps over its two attention layers),
#: used on CPU to skip a dense run that cannot fit instead of swapping.
DENSE_BYTES_PER_PAIR = 4 * 6 * 12


def resolve_device(name: str) -> torch.device:
    """The trainer's :func:`~dsgdn_pyg.training.resolve_device` (``auto``
    -> CUDA when available, else CPU), limited to the devices the
    benchmark can time and measure: CPU and CUDA."""
    from dsgdn_pyg.training.device import resolve_device as resolve

    device = resolve(name)
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device: expected auto, cpu or cuda, got {name!r}")
    return device


@dataclass
class Workload:
    """One benchmark case: batches of dialogue lengths and a window."""
    kind: str  # sweep | iemocap | huge
    window: int
    batches: List[List[int]]
    layers: Sequence[str] = LAYERS
    length: Optional[int] = None  # the sweep's L

    @property
    def name(self) -> str:
        if self.kind == "iemocap":
            return f"iemocap-train w={self.window}"
        return f"L={self.length} w={self.window}"

    @property
    def utterances(self) -> int:
        return sum(sum(b) for b in self.batches)

    @property
    def padded_utterances(self) -> int:
        return sum(len(b) * max(b) for b in self.batches)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["layers"] = list(self.layers)
        out.update(name=self.name, utterances=self.utterances,
                   padded_utterances=self.padded_utterances,
                   batch_size=max(len(b) for b in self.batches))
        return out


def plan(config: BenchConfig) -> List[Workload]:
    """The cases of :obj:`config`, in the order they run. The IEMOCAP case
    is left out (and reported) when the metadata file is absent."""
    cases = []
    for window in config.windows:
        for length in config.lengths:
            size = batch_size_for_length(length)
            cases.append(Workload("sweep", window, [[length] * size],
                                  config.layers, length))
    path = Path(config.iemocap) if config.iemocap else default_iemocap_path()
    if path.is_file():
        lengths = iemocap_train_lengths(path)
        cases.append(Workload("iemocap", 20, epoch_batches(
            lengths, 16, config.seed, config.iemocap_batches),
            config.layers))
    if config.huge_length:
        for window in config.windows:
            cases.append(Workload("huge", window, [[config.huge_length]],
                                  ("sparse", ), config.huge_length))
    return cases


def _dense_fits(workload: Workload, device: torch.device) -> Optional[str]:
    """On CPU, a reason to skip the dense block when its [B, L, L] maps
    cannot fit in the available memory (on a GPU, it is simply tried)."""
    if device.type != "cpu":
        return None
    need = max(len(b) * max(b)**2 for b in workload.batches) * \
        DENSE_BYTES_PER_PAIR / 2**20
    available = available_memory_mb()
    if available is not None and need > 0.7 * available:
        return (f"skipped: the dense maps need about {need / 1024:.1f} GiB, "
                f"{available / 1024:.1f} GiB available")
    return None


def check_agreement(layers: Dict[str, torch.nn.Module], inputs
                    ) -> Dict[str, object]:
    """Max absolute difference between the sparse and dense blocks' node
    outputs (eval mode), and that every layer's output is finite."""
    result: Dict[str, object] = {}
    outs = {}
    with torch.no_grad():
        for name, layer in layers.items():
            layer.eval()
            out = layer_runner(name, layer, inputs)()
            if name == "dense":
                out = out[inputs.dense()[2]]
            if not torch.isfinite(out).all():
                raise RuntimeError(f"bench: the {name} layer gave non-finite "
                                   f"outputs")
            outs[name] = out
    if "dense" in outs:
        diff = float((outs["sparse"] - outs["dense"]).abs().max())
        result["max_abs_diff"] = diff
        if not diff < AGREEMENT_TOLERANCE:
            raise RuntimeError(
                f"bench: sparse and dense blocks disagree (max abs "
                f"difference {diff:.3g} >= {AGREEMENT_TOLERANCE})")
    return result


def _runner(name: str, layer: torch.nn.Module, batches, mode: str
            ) -> Callable[[], None]:
    """One call over all of a workload's batches in :obj:`mode`."""
    if mode == "forward":
        layer.eval()
        calls = [layer_runner(name, layer, b) for b in batches]

        def run():
            with torch.no_grad():
                for call in calls:
                    call()
        return run

    layer.train()
    for b in batches:
        b.x.requires_grad_(True)
    calls = [layer_runner(name, layer, b) for b in batches]

    def run():
        layer.zero_grad(set_to_none=True)
        for call in calls:
            call().sum().backward()
    return run


def run_workload(workload: Workload, config: BenchConfig,
                 device: torch.device) -> dict:
    """Checks and measures one case in this process; returns its record."""
    if config.threads:
        torch.set_num_threads(config.threads)
    timer = Timer(device)
    record = workload.to_dict()
    torch.manual_seed(config.seed)
    batches = [make_graph_batch(lengths, workload.window, config.channels,
                                seed=config.seed + i).to(device)
               for i, lengths in enumerate(workload.batches)]
    record["edges"] = sum(b.num_edges for b in batches)
    if "dense" not in workload.layers:
        longest = max(max(b) for b in workload.batches)
        gib = 4 * 2 * config.heads * longest**2 / 2**30
        record["dense_note"] = (f"dense not run: one [2H, L, L] float32 "
                                f"score map alone is {gib:,.1f} GiB")
    layers = make_layers(config.channels, config.heads, config.dropout,
                         config.seed)
    layers = {k: v.to(device) for k, v in layers.items()
              if k in workload.layers}
    results: Dict[str, Dict[str, dict]] = {}
    skip = {}
    if "dense" in layers:
        reason = _dense_fits(workload, device)
        if reason:
            skip["dense"] = reason
            del layers["dense"]

    try:
        record["check"] = dict(status="ok", **check_agreement(
            layers, batches[0]))
    except Exception as exc:  # noqa: BLE001 - OOM of the dense side
        if not is_out_of_memory(exc) or "dense" not in layers:
            raise
        skip["dense"] = "out of memory in the agreement check"
        del layers["dense"]
        _free(device)
        record["check"] = dict(status="ok", **check_agreement(
            layers, batches[0]))
    record["load_before"] = _load_average()
    for mode in MODES:
        measured = timer.measure_side_by_side(
            {name: _runner(name, layer, batches, mode)
             for name, layer in layers.items()},
            config.repeats, config.warmup, workload.utterances,
            config.max_seconds)
        _free(device)
        for name in workload.layers:
            m = measured.get(name) or Measurement(status="oom",
                                                  note=skip.get(name))
            results.setdefault(name, {})[mode] = m.to_dict()
    record["load_after"] = _load_average()
    record["results"] = results
    return record


def _load_average() -> Optional[float]:
    """The system's one-minute load average (other work on the machine
    slows every measurement; recorded so that it shows)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def _free(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()


def run_workload_isolated(workload: Workload, config: BenchConfig,
                          device: torch.device, timeout: Optional[float]
                          = None) -> dict:
    """:func:`run_workload` in a fresh Python process (its own memory
    peak; a crash or a kill there is recorded, not propagated)."""
    payload = json.dumps(dict(workload=asdict(workload),
                              config=config.to_dict(), device=str(device)))
    cmd = [sys.executable, "-m", "dsgdn_pyg.bench.worker"]
    try:
        proc = subprocess.run(cmd, input=payload, capture_output=True,
                              text=True, timeout=timeout,
                              env=dict(os.environ))
    except subprocess.TimeoutExpired:
        return dict(workload.to_dict(), error=f"timed out after {timeout} s")
    if proc.returncode != 0:
        tail = (proc.stderr or "").strip().splitlines()[-1:] or [""]
        return dict(workload.to_dict(),
                    error=f"worker exited with {proc.returncode}: {tail[0]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def environment(device: torch.device) -> dict:
    """The machine and software the numbers come from."""
    import torch_geometric
    import torch_geometric.typing as pyg_typing

    from dsgdn_pyg import __version__

    info = dict(
        cpu_model=cpu_model(), cpu_cores=os.cpu_count(),
        torch_threads=torch.get_num_threads(),
        torch=torch.__version__, torch_geometric=torch_geometric.__version__,
        torch_scatter=bool(pyg_typing.WITH_TORCH_SCATTER),
        pyg_lib=bool(pyg_typing.WITH_PYG_LIB),
        python=platform.python_version(), platform=platform.platform(),
        load_average=_load_average(),
        dsgdn_pyg=__version__, device=str(device), gpu=None)
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
    return info


@dataclass
class BenchResult:
    """Everything one benchmark run measured."""
    environment: dict
    config: dict
    workloads: List[dict] = field(default_factory=list)
    e2e: Optional[dict] = None
    skipped: List[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        from dsgdn_pyg.bench.report import key_ratios
        out = asdict(self)
        out["ratios"] = key_ratios(self)
        return out


def run_benchmark(config: BenchConfig,
                  progress: Optional[Callable[[str], None]] = None
                  ) -> BenchResult:
    """Runs every case of :obj:`config`, then the end-to-end epoch;
    :obj:`progress` gets one line per step."""
    progress = progress or (lambda line: None)
    device = resolve_device(config.device)
    if config.threads:
        torch.set_num_threads(config.threads)
    result = BenchResult(environment(device), config.to_dict())
    path = Path(config.iemocap) if config.iemocap else default_iemocap_path()
    if not path.is_file():
        result.skipped.append(f"the IEMOCAP batches: {path} is absent "
                              f"(iemocap= names the iemocap.pkl metadata)")
    cases = plan(config)
    for i, workload in enumerate(cases, 1):
        progress(f"[{i}/{len(cases)}] {workload.name} "
                 f"({workload.utterances} utterances, "
                 f"{', '.join(workload.layers)})")
        if workload.kind == "huge" or config.isolate:
            record = run_workload_isolated(workload, config, device)
        else:
            record = run_workload(workload, config, device)
        result.workloads.append(record)
    if config.e2e:
        progress("end-to-end training epoch (sparse and dense models)")
        from dsgdn_pyg.bench.e2e import run_e2e
        result.e2e = run_e2e(config, device)
    return result
