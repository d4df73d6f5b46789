"""Where the runs of an experiment execute: this process (one worker),
local worker processes (``--workers N``, no extra dependency, each pinned to
its share of the cores or to its own GPU) or a Ray cluster
(``--executor ray``, the ``ray`` extra)."""

import contextlib
import ctypes
import multiprocessing
import os
import signal
import threading
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Callable, Iterator, List, Optional

from dsgdn_pyg.errors import MissingExtraError
from dsgdn_pyg.experiments.tasks import execute_task

EXECUTORS = ("local", "ray")
Done = Callable[[dict, Optional[dict], Optional[BaseException]], None]


def check_executor(name: str, workers: int) -> None:
    """A one-line error for an unknown executor, a bad worker count or a
    missing extra, before anything is written."""
    if name not in EXECUTORS:
        raise ValueError(f"--executor: expected one of "
                         f"{', '.join(EXECUTORS)}, got {name!r}")
    if workers < 1:
        raise ValueError(f"--workers: expected a positive number of "
                         f"processes, got {workers}")
    if name == "ray":
        import_ray()


def import_ray():
    try:
        import ray
    except ImportError:
        raise MissingExtraError('--executor ray needs Ray: pip install '
                                '"dsgdn-pyg[ray]"') from None
    return ray


def run_tasks(tasks: List[dict], done: Done, executor: str = "local",
              workers: int = 1, address: Optional[str] = None) -> None:
    """Executes every task and calls ``done(task, result, error)`` as each
    one ends (in completion order); a failing run does not stop the
    others."""
    check_executor(executor, workers)
    if executor == "ray":
        _run_ray(tasks, done, address)
    elif workers == 1:
        for task in tasks:
            _call(done, task)
    else:
        _run_pool(tasks, done, workers)


def _call(done: Done, task: dict) -> None:
    try:
        result = execute_task(task)
    except Exception as exc:  # noqa: BLE001 - reported, the others go on
        done(task, None, exc)
        return
    done(task, result, None)


def _die_with_parent(parent: int) -> None:
    """Linux: the worker gets SIGKILL when the sweep dies (even by
    ``kill -9``), so no orphan keeps writing a run the restarted sweep
    resumes. A worker whose sweep (pid :obj:`parent`) died while it was
    starting, before the signal was armed, exits at once: it would wait for
    tasks forever."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os._exit(1)


def usable_cores() -> List[int]:
    """The cores this process may run on (its affinity mask where the
    platform has one, e.g. under a cgroup or ``taskset``)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def worker_cores(index: int, workers: int, cores: List[int]) -> List[int]:
    """The share of :obj:`cores` of worker :obj:`index` of :obj:`workers`:
    disjoint consecutive blocks of ``len(cores) // workers`` cores (one core
    each, taken in turn, when there are more workers than cores)."""
    per_worker = max(1, len(cores) // workers)
    start = (index * per_worker) % len(cores)
    return cores[start:start + per_worker]


def _init_worker(cores: List[int], workers: int, counter, gpus: int,
                 parent: int) -> None:
    _die_with_parent(parent)
    with counter.get_lock():
        index = counter.value
        counter.value += 1
    if gpus:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(index % gpus)
    share = worker_cores(index, workers, cores)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, share)
    import torch
    torch.set_num_threads(len(share))


def _gpu_count() -> int:
    try:
        import torch
        return torch.cuda.device_count()
    except Exception:  # noqa: BLE001
        return 0


def _run_pool(tasks: List[dict], done: Done, workers: int) -> None:
    """The tasks on :obj:`workers` local processes. The workers ignore
    Ctrl-C: the sweep gets it and stops them (:func:`_stop`), whether the
    terminal sent it to all of them or to the sweep alone."""
    context = multiprocessing.get_context("spawn")
    counter = context.Value("i", 0)
    pool = ProcessPoolExecutor(workers, mp_context=context,
                               initializer=_init_worker,
                               initargs=(usable_cores(), workers, counter,
                                         _gpu_count(), os.getpid()))
    try:
        with _sigint_ignored():  # the workers start as tasks are submitted
            futures = {pool.submit(execute_task, task): task
                       for task in tasks}
        for future in as_completed(futures):
            try:
                result = future.result()
            except Exception as exc:  # noqa: BLE001
                done(futures[future], None, exc)
                continue
            done(futures[future], result, None)
        pool.shutdown()
    except BaseException:
        _stop(pool)
        raise


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ignores SIGINT in the block (in the main thread, where signals are
    handled): the processes started there ignore it from birth (an ignored
    signal is inherited), so a Ctrl-C while they import prints no
    traceback of theirs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancels the tasks not started and kills the workers at once, as
    ``kill -9`` of the sweep would (their runs resume: every file is
    written atomically, and the kernel frees a dead worker's locks)."""
    processes = list((pool._processes or {}).values())  # no public handle
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.kill()
    for process in processes:
        process.join()


def _run_ray(tasks: List[dict], done: Done, address: Optional[str]) -> None:
    ray = import_ray()
    ray.init(address=address, ignore_reinit_error=True,
             log_to_driver=False)
    gpus = 1 if _gpu_count() and address is None else 0
    remote = ray.remote(num_cpus=1, num_gpus=gpus)(execute_task)
    pending = {remote.remote(task): task for task in tasks}
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        for ref in ready:
            task = pending.pop(ref)
            try:
                result = ray.get(ref)
            except Exception as exc:  # noqa: BLE001
                done(task, None, exc)
                continue
            done(task, result, None)
