"""Timing and peak memory of one benchmark case.

Time: median of repeated calls after warm-up, with CUDA events on a GPU and
:func:`time.perf_counter` on CPU. Peak memory: on a GPU, the CUDA caching
allocator's peak above what was allocated before the call; on CPU, the
process's peak resident set (``VmHWM``) above its resident set before the
call, after freed heap memory has been handed back to the system
(``malloc_trim``) and the peak counter reset (``/proc/self/clear_refs``), so
one process can measure case after case. Where that reset is unavailable
(not Linux), the process peak since start is reported and flagged.

With glibc, every allocation over :obj:`EXACT_MMAP_THRESHOLD` gets its own
mapping during the measured call (``mallopt(M_MMAP_THRESHOLD)``), so a freed
tensor leaves the resident set at once: the peak is then that of the live
tensors, as :func:`torch.cuda.max_memory_allocated` is on a GPU, instead of
the high-water mark of a heap that reuses and fragments freed blocks
(which moved a ratio of two layers by up to 0.1 between runs). Blocks that
the heap already holds are still reused, so a process that measures several
calls holds that threshold from its start (:meth:`ProcessMemory.hold`) and
takes every peak before any timed call (:meth:`Timer.peaks`): one layer's
warm-up calls left a heap that doubled the next layer's peak. Timed calls
run with the threshold at :obj:`RESTORED_MMAP_THRESHOLD`, the ceiling of
glibc's own adaptive one.
"""

import ctypes
import gc
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, List, Optional

import torch

#: glibc's ``mallopt`` parameter number of ``M_MMAP_THRESHOLD``.
M_MMAP_THRESHOLD = -3
#: During a memory call: every tensor over 64 KiB is its own mapping.
EXACT_MMAP_THRESHOLD = 64 * 1024
#: After it: glibc's ceiling for its adaptive threshold (64-bit).
RESTORED_MMAP_THRESHOLD = 32 * 2**20

OOM_MESSAGES = ("out of memory", "not enough memory",
                "can't allocate memory", "cannot allocate memory")


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether :obj:`exc` is an allocation failure (CUDA or CPU)."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    if isinstance(exc, (RuntimeError, MemoryError)):
        text = str(exc).lower()
        return isinstance(exc, MemoryError) or any(m in text
                                                   for m in OOM_MESSAGES)
    return False


def available_memory_mb() -> Optional[float]:
    """Memory the system can still give this process (``MemAvailable``),
    or :obj:`None` where unknown."""
    try:
        import psutil
        return psutil.virtual_memory().available / 2**20
    except ImportError:
        return _proc_field_mb("/proc/meminfo", "MemAvailable")


def _proc_field_mb(path: str, key: str) -> Optional[float]:
    """The ``key: N kB`` line of a ``/proc`` file in MiB, or :obj:`None`
    where the file or the line is missing."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


class ProcessMemory:
    """Resident-set peak of this process on CPU (see the module docstring)."""

    def __init__(self):
        self._libc = None
        try:
            self._libc = ctypes.CDLL("libc.so.6")
        except OSError:
            pass
        self.resettable = self._can_reset()
        self.held = False

    @staticmethod
    def _status_mb(key: str) -> Optional[float]:
        return _proc_field_mb("/proc/self/status", key)

    def _can_reset(self) -> bool:
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            return False
        return self._status_mb("VmHWM") is not None

    def current_mb(self) -> float:
        rss = self._status_mb("VmRSS")
        return rss if rss is not None else self.peak_mb()

    def peak_mb(self) -> float:
        hwm = self._status_mb("VmHWM")
        if hwm is not None:
            return hwm
        import resource
        import sys
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        # Linux reports KiB, macOS bytes.
        return peak / (1024.0 * 1024.0 if sys.platform == "darwin" else
                       1024.0)

    @property
    def exact(self) -> bool:
        """Whether the peak counts live allocations only (glibc)."""
        return self._libc is not None and hasattr(self._libc, "mallopt")

    def _mmap_threshold(self, size: int) -> None:
        # Allocations over `size` bytes get their own mapping (glibc only).
        if self.exact:
            self._libc.mallopt(M_MMAP_THRESHOLD, size)

    def start(self) -> float:
        """Releases freed memory, resets the peak; returns the baseline."""
        gc.collect()
        self._mmap_threshold(EXACT_MMAP_THRESHOLD)
        if self._libc is not None and hasattr(self._libc, "malloc_trim"):
            self._libc.malloc_trim(0)
        if self.resettable:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
        return self.current_mb()

    def stop(self) -> float:
        """The peak since :meth:`start`; timed calls allocate as usual
        (unless :meth:`hold` keeps every large allocation mapped)."""
        peak = self.peak_mb()
        if not self.held:
            self._mmap_threshold(RESTORED_MMAP_THRESHOLD)
        return peak

    def hold(self) -> None:
        """Maps every allocation over :obj:`EXACT_MMAP_THRESHOLD` on its own
        from now until :meth:`release`. Called before a process builds its
        inputs, it keeps the heap free of large freed blocks that a measured
        call would reuse (and whose pages would then count without being
        live tensors)."""
        self._mmap_threshold(EXACT_MMAP_THRESHOLD)
        self.held = self.exact

    def release(self) -> None:
        """Ends :meth:`hold`: allocations as usual, for timed calls."""
        if self.held:
            self._mmap_threshold(RESTORED_MMAP_THRESHOLD)
            self.held = False


@dataclass
class Measurement:
    """One layer, one mode, one workload."""
    status: str = "ok"  # ok | oom | skipped | error
    median_ms: Optional[float] = None
    min_ms: Optional[float] = None  # the least disturbed call
    times_ms: List[float] = field(default_factory=list)
    peak_mb: Optional[float] = None  # above the baseline
    process_peak_mb: Optional[float] = None  # CPU: absolute resident peak
    utterances_per_s: Optional[float] = None
    note: Optional[str] = None

    def to_dict(self) -> dict:
        return asdict(self)


class Timer:
    """Times calls on :obj:`device` (CUDA events on a GPU)."""

    def __init__(self, device: torch.device):
        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda"
        self.memory = None if self.cuda else ProcessMemory()

    def synchronize(self) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)

    def time_once(self, fn: Callable[[], None]) -> float:
        """Milliseconds of one call."""
        if self.cuda:
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize(self.device)
            return start.elapsed_time(end)
        start = time.perf_counter()
        fn()
        return (time.perf_counter() - start) * 1e3

    def peak_once(self, fn: Callable[[], None]):
        """``(peak above baseline, absolute peak or None)`` in MiB of one
        call."""
        if self.cuda:
            self.synchronize()
            gc.collect()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)
            base = torch.cuda.memory_allocated(self.device)
            fn()
            self.synchronize()
            peak = torch.cuda.max_memory_allocated(self.device)
            return (peak - base) / 2**20, None
        base = self.memory.start()
        try:
            fn()
        finally:
            peak = self.memory.stop()
        return max(peak - base, 0.0), peak

    def measure(self, fn: Callable[[], None], repeats: int, warmup: int,
                utterances: int, max_seconds: Optional[float] = None
                ) -> Measurement:
        """:meth:`measure_side_by_side` of a single call."""
        return self.measure_side_by_side({"fn": fn}, repeats, warmup,
                                         utterances, max_seconds)["fn"]

    def peaks(self, calls: Dict[str, Callable[[], None]]
              ) -> Dict[str, Measurement]:
        """The peak memory of one call of each, as the start of its
        :class:`Measurement`; an allocation failure marks it ``oom``."""
        out = {name: Measurement() for name in calls}
        for name, fn in calls.items():
            m = out[name]
            try:
                m.peak_mb, m.process_peak_mb = self.peak_once(fn)
            except Exception as exc:  # noqa: BLE001 - only OOM is kept
                self._out_of_memory(m, exc)
                continue
            if not self.cuda and not self.memory.resettable:
                m.note = "process peak since start (no peak reset)"
        return out

    def measure_side_by_side(self, calls: Dict[str, Callable[[], None]],
                             repeats: int, warmup: int, utterances: int,
                             max_seconds: Optional[float] = None,
                             peaks: Optional[Dict[str, Measurement]] = None
                             ) -> Dict[str, Measurement]:
        """Measures several calls on the same inputs: first the peak memory
        of each one's first call (unless :obj:`peaks` holds them, from
        :meth:`peaks`) and its :obj:`warmup` untimed calls, then
        :obj:`repeats` rounds that time every call once, in turn, so that
        all of them see the same machine (a call whose time passes
        :obj:`max_seconds` leaves the rounds after three). An allocation
        failure marks that call ``oom`` and the others go on; anything else
        is raised."""
        out = peaks if peaks is not None else self.peaks(calls)
        active, spent = [], {}
        for name, fn in calls.items():
            m = out[name]
            if m.status != "ok":
                continue
            try:
                for _ in range(warmup):
                    fn()
                self.synchronize()
            except Exception as exc:  # noqa: BLE001 - only OOM is kept
                self._out_of_memory(m, exc)
                continue
            active.append(name)
            spent[name] = 0.0
        for i in range(repeats):
            for name in list(active):
                try:
                    ms = self.time_once(calls[name])
                except Exception as exc:  # noqa: BLE001
                    self._out_of_memory(out[name], exc)
                    active.remove(name)
                    continue
                out[name].times_ms.append(ms)
                spent[name] += ms / 1e3
                if max_seconds is not None and i >= 2 and \
                        spent[name] > max_seconds:
                    active.remove(name)
        for m in out.values():
            if m.status == "ok" and m.times_ms:
                m.median_ms = statistics.median(m.times_ms)
                m.min_ms = min(m.times_ms)
                m.utterances_per_s = utterances / (m.median_ms / 1e3)
        return out

    def _out_of_memory(self, m: Measurement, exc: BaseException) -> None:
        if not is_out_of_memory(exc):
            raise exc
        m.status = "oom"
        m.note = str(exc).strip().splitlines()[0][:200] if str(exc) else \
            type(exc).__name__
        m.times_ms = []
        m.median_ms = m.min_ms = m.utterances_per_s = None
        if self.cuda:
            torch.cuda.empty_cache()
        gc.collect()
