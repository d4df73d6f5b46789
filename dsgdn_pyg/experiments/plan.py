"""From an experiment, a base configuration and seeds to the list of runs
(one per cell and seed), the experiment's manifest in its output folder,
and the slice of the runs one shard does.

Layout of an experiment folder::

    experiment.json               the manifest (name, base options, cells,
                                  seeds)
    <cell>/seed-<n>/              one ordinary `dsgdn train` run directory
    evaluations/<cell>/seed-<n>.json   ``evaluate`` experiments' metrics
    report.md, report.json, plot.png
    .lock, .<name>.<hex>.tmp      the folder's lock, atomic writes' temporaries

A cell's name is a folder of its own: none of these.
"""

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from dsgdn_pyg import __version__
from dsgdn_pyg.errors import SEED_MAX, check_number
from dsgdn_pyg.experiments.options import check_settings
from dsgdn_pyg.experiments.registry import Experiment, get_experiment
from dsgdn_pyg.io import TEMPORARY
from dsgdn_pyg.training import lock
from dsgdn_pyg.training import run_dir as files
from dsgdn_pyg.training.options import OPTION, as_overrides, to_options
from dsgdn_pyg.training.request import (TrainRequest, request_from_options,
                                        settings as resolve)

MANIFEST = "experiment.json"
EVALUATIONS = "evaluations"
OVERHEAD = "overhead.json"
REPORT_MD = "report.md"
REPORT_JSON = "report.json"
PLOT = "plot.png"
#: The experiment folder's own files and folders, which no cell may be.
OWN_NAMES = (MANIFEST, REPORT_MD, REPORT_JSON, PLOT, EVALUATIONS)
# A cell's name is a folder of the experiment: a plain name, never a path,
# nor hidden (the folder's lock and temporaries are).
CELL_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")


@dataclass
class Plan:
    """Everything one `dsgdn experiment run` does."""
    experiment: Experiment
    out: Path
    base: dict
    cells: List[dict]  # name, options (as words), settings, run_root
    seeds: List[int]
    from_runs: Optional[Path] = None
    manifest: dict = field(default_factory=dict)

    @property
    def preset(self) -> str:
        return self.base.get("preset", "iemocap")


def parse_shard(spec: Optional[str]) -> Optional[Tuple[int, int]]:
    """``"K/N"`` with ``1 <= K <= N`` -> ``(K, N)``."""
    if spec is None:
        return None
    k, sep, n = spec.partition("/")
    try:
        k, n = int(k), int(n)
    except ValueError:
        k = n = 0
    if not sep or not 1 <= k <= n:
        raise ValueError(f"--shard: expected K/N with 1 <= K <= N (this job "
                         f"runs every N-th run from the K-th), got {spec!r}")
    return k, n


def shard_slice(items: Sequence, shard: Optional[Tuple[int, int]]) -> list:
    """The items of shard ``K/N``: every N-th from the K-th (1-based), so
    that the N shards together hold each item exactly once."""
    if shard is None:
        return list(items)
    k, n = shard
    return [item for i, item in enumerate(items) if i % n == k - 1]


def read_manifest(folder: Path) -> Optional[dict]:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: unreadable experiment manifest "
                         f"({exc})") from None
    _check_manifest(path, manifest)
    return manifest


#: The fields of a manifest that its readers index, and their types.
MANIFEST_FIELDS = dict(experiment=str, base=dict, base_options=list,
                       default_cell=str, cells=list, seeds=list)
_JSON_TYPES = {str: "string", dict: "object", list: "list"}


def _check_manifest(path: Path, manifest) -> None:
    """A one-line error unless :obj:`manifest` has the fields a report and
    a rerun read, with plain cell names (each one a folder of the
    experiment) and integer seeds."""
    def bad(field: Optional[str], expected: str):
        where = f"{path}: field {field!r}" if field else str(path)
        raise ValueError(f"{where}: expected {expected}; not a manifest of "
                         f"`dsgdn experiment run`")
    if not isinstance(manifest, dict):
        bad(None, "a JSON object")
    for key, kind in MANIFEST_FIELDS.items():
        if not isinstance(manifest.get(key), kind):
            bad(key, f"a JSON {_JSON_TYPES[kind]}")
    try:
        get_experiment(manifest["experiment"])
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    for cell in manifest["cells"]:
        if not (isinstance(cell, dict) and isinstance(cell.get("name"), str)
                and isinstance(cell.get("options"), list)
                and isinstance(cell.get("settings"), dict)):
            bad("cells", "objects with a name, options and settings")
        check_cell_name(cell["name"], f"{path}: cell")
    if not all(isinstance(s, int) and not isinstance(s, bool)
               for s in manifest["seeds"]):
        bad("seeds", "a list of integer seeds")


def check_cell_name(name: str, what: str = "--cell") -> str:
    """:obj:`name` when it is a plain name (letters, digits, ``-``, ``_``,
    ``.``, not starting with ``.``) other than the folder's own files
    (:data:`OWN_NAMES`, in any case), else a one-line error: a cell's name
    becomes a folder of the experiment and must not lead out of it nor
    take the place of one of its files."""
    if not isinstance(name, str) or not CELL_NAME.match(name):
        raise ValueError(f"{what} {name!r}: a cell name is a plain name "
                         f"(letters, digits, -, _ and ., not starting with "
                         f".), not a path")
    if name.casefold() in OWN_NAMES:
        raise ValueError(f"{what} {name!r}: the experiment folder's own "
                         f"file; expected a cell name other than "
                         f"{', '.join(OWN_NAMES)}")
    return name


def run_mismatch(path: Path, settings: dict, seed: int) -> Optional[str]:
    """What differs between the request the run in :obj:`path` records
    (its ``config.json``) and the one of its cell (:obj:`settings`) and
    seed, as ``--hidden 16, not 32``; ``None`` when they resolve to the same
    settings (the device aside) or the run records none yet."""
    config = Path(path) / files.CONFIG
    if not config.is_file():
        return None
    try:
        recorded = json.loads(config.read_text())
    except (OSError, ValueError) as exc:
        return (f"its {files.CONFIG} records no request of `dsgdn train` "
                f"({type(exc).__name__})")
    return request_mismatch(recorded, settings, seed, Path(path),
                            files.CONFIG)


def request_mismatch(recorded: dict, settings: dict, seed: int, out: Path,
                     source: str) -> Optional[str]:
    """What differs between the request :obj:`recorded` (a ``config.json``
    or ``overhead.json`` record, read from :obj:`source`) holds and the one
    of :obj:`settings` and :obj:`seed` (the device aside), as in
    :func:`run_mismatch`."""
    try:
        theirs = resolve(TrainRequest.from_dict(recorded["request"]))
    except (ValueError, KeyError, TypeError) as exc:
        return (f"its {source} records no request of `dsgdn train` "
                f"({type(exc).__name__})")
    mine = resolve(request_from_options(settings, seeds=[seed], out=out))
    data = recorded.get("data")
    recorded_data = data.get("path") if isinstance(data, dict) else None
    flags = {o.setting: o.flag for o in OPTION.values()}
    differ = [f"{flags.get(key, key)} {_shown(key, theirs.get(key))}, not "
              f"{_shown(key, mine.get(key))}"
              for key in sorted(set(mine) | set(theirs))
              if mine.get(key) != theirs.get(key) and not (
                  key == "data" and _same_data(mine.get(key), theirs.get(key),
                                               recorded_data))]
    if not differ:
        return None
    more = f" and {len(differ) - 3} more" if len(differ) > 3 else ""
    return "; ".join(differ[:3]) + more


def check_run(task: dict) -> None:
    """A one-line error naming the run directory of :obj:`task` (see
    :func:`tasks`) when it holds a run of other options than its cell and
    seed ask (:func:`run_mismatch`); that run is left as it is."""
    path = Path(task["run_dir"])
    reason = run_mismatch(path, task["settings"], task["seed"])
    if reason is None:
        return
    advice = ("move it away to train the cell's own" if task["train"] else
              "restore the cell's own run there, or measure other runs")
    raise ValueError(f"{path}: holds a run of other options than cell "
                     f"{task['cell']} seed {task['seed']} ({reason}); "
                     f"{advice} (nothing was changed)")


def stale_evaluation(record: dict, run: Path) -> Optional[str]:
    """Why the measurement :obj:`record` (an ``evaluations`` file) is not
    one of the ``best.pt`` that the run :obj:`run` holds now, or ``None``
    when it is."""
    recorded = (record.get("checkpoint") or {}).get("sha256") \
        if isinstance(record, dict) else None
    checkpoint = Path(run) / files.CHECKPOINT
    if not checkpoint.is_file():
        return f"{checkpoint} is gone"
    if recorded is None:
        return "it records no checkpoint digest (an older version's)"
    if recorded != files.file_digest(checkpoint):
        return f"it measured another {files.CHECKPOINT} (retrained since)"
    return None


def stale_overhead(record, task: dict) -> Optional[str]:
    """Why the ``overhead.json`` record :obj:`record` is no measurement of
    the cell and seed of :obj:`task` on its ``--device``, or ``None`` when
    it is."""
    if not isinstance(record, dict) or not isinstance(
            record.get("request"), dict):
        return "it records no settings (an older version's)"
    out = Path(task["overhead"]).parent
    reason = request_mismatch(record, task["settings"], task["seed"], out,
                              OVERHEAD)
    if reason is not None:
        return f"it measured other options ({reason})"
    mine = request_from_options(task["settings"], seeds=[task["seed"]],
                                out=out).device
    theirs = record["request"].get("device")
    if theirs != mine:
        return f"it was measured with --device {theirs}, not {mine}"
    return None


def _shown(key: str, value) -> str:
    """A resolved setting as an option's value."""
    if value is None:
        return "unset"
    if key == "synthetic" and isinstance(value, dict):
        value = value.get("num_dialogues")
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


def _same_data(mine: Optional[str], theirs: Optional[str],
               recorded: Optional[str]) -> bool:
    """Whether two ``--data`` values name one data set (the run's as the
    absolute path it recorded, where it did)."""
    if mine is None or theirs is None:
        return mine == theirs
    return Path(mine).resolve() == Path(recorded or theirs).resolve()


def is_empty(folder: Path) -> bool:
    """Whether :obj:`folder` holds nothing but its lock and temporaries
    (another shard may have just locked it)."""
    return all(p.name == lock.LOCK or TEMPORARY.match(p.name)
               for p in Path(folder).iterdir())


def _resolved(settings: dict) -> dict:
    """Every value the settings resolve to (the preset's where they set
    none), to compare two configurations."""
    from dsgdn_pyg.training.session import request_from_options
    from dsgdn_pyg.training.session import settings as resolve

    values = resolve(request_from_options(settings, seeds=[0],
                                          out=Path(".")))
    if values.get("data") is not None:
        values["data"] = str(Path(values["data"]).resolve())
    return values


def _check_source_base(given: dict, source_base: dict, from_runs) -> None:
    """The base options given with ``--from-runs`` must be those the
    source runs were trained with (the runs are measured as they are)."""
    if not given:
        return
    mine, theirs = _resolved(given), _resolved(source_base)
    for key in given:
        option = OPTION[key]
        if key == "device" or \
                mine.get(option.setting) == theirs.get(option.setting):
            continue
        shown = source_base.get(key, theirs.get(option.setting))
        raise ValueError(
            f"{option.flag}: the runs of --from-runs {from_runs} were "
            f"trained with {option.flag} {shown}, not {given[key]} (they are "
            f"measured as trained: drop the option, or train new runs)")


def _cell_entry(name: str, overrides: dict, base: dict, root: Path,
                words: Optional[Sequence[str]] = None) -> dict:
    """A cell of the plan: its settings (the base's, then its overrides)
    and its options as words (those it was written with, if it was)."""
    return dict(name=name, options=list(words) if words is not None else
                to_options(overrides), settings=dict(base, **overrides),
                run_root=str(root / name))


Options = Union[str, Sequence[str], Mapping[str, Any]]


def make_plan(name: str, base_options: Options, seeds: Sequence[int],
              out: Path, only: Optional[Sequence[str]] = None,
              extra_cells: Optional[Dict[str, Options]] = None,
              from_runs: Optional[Path] = None) -> Plan:
    """Checks everything (experiment, options of the base and of every cell,
    the output folder) and returns the plan; writes nothing.

    The base configuration and the extra cells are overrides of the
    request: settings (``{"window": 5}``) or `dsgdn train` options written
    as words (``["--window", "5"]``), read here once."""
    experiment = get_experiment(name)
    base = as_overrides(base_options, "option")
    check_settings(base, "base configuration")
    preset = base.get("preset", "iemocap")
    out = Path(out)
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds: expected distinct integers, got "
                         f"{list(seeds)}")
    for seed in seeds:  # as dsgdn train --seeds would, before any run
        check_number("--seeds", seed, 0, SEED_MAX, integer=True)

    checked = set()
    if from_runs is not None:
        if experiment.kind != "evaluate":
            raise ValueError(f"--from-runs: only for the experiments that "
                             f"measure trained runs (long-dialogues, noise), "
                             f"not {name}")
        if extra_cells:
            raise ValueError("--cell and --from-runs: the cells are the "
                             "source runs' own; choose one")
        source = read_manifest(from_runs)
        if source is None:
            raise ValueError(f"--from-runs: {from_runs} holds no experiment "
                             f"manifest ({MANIFEST}); expected the --out "
                             f"folder of a `dsgdn experiment run`")
        for seed in seeds:
            if seed not in source.get("seeds", []):
                raise ValueError(
                    f"--seeds: {from_runs} has no seed {seed} (its runs have "
                    f"seeds {', '.join(map(str, source.get('seeds', [])))})")
        _check_source_base(base, source["base"], from_runs)
        cells = [dict(c, run_root=str(Path(from_runs) / check_cell_name(
            c["name"], f"{Path(from_runs) / MANIFEST}: cell")))
            for c in source["cells"]]
        base = source["base"]
    else:
        cells = [_cell_entry(c.name, dict(c.overrides), base, out)
                 for c in experiment.cells(preset)]
        for cell_name, options in (extra_cells or {}).items():
            check_cell_name(cell_name)
            entry = _cell_entry(
                cell_name, as_overrides(options, f"cell {cell_name} option"),
                base, out, None if isinstance(options, Mapping) else
                shlex.split(options) if isinstance(options, str) else options)
            # Checked here, even if --only leaves it out.
            check_settings(entry["settings"], f"cell {cell_name}")
            checked.add(cell_name)
            cells = [c for c in cells if c["name"] != cell_name]
            cells.append(entry)
    if only:
        known = [c["name"] for c in cells]
        unknown = [c for c in only if c not in known]
        if unknown:
            raise ValueError(f"--only: unknown cell {unknown[0]!r}; expected "
                             f"some of {', '.join(known)}")
        cells = [c for c in cells if c["name"] in only]
    for cell in cells:
        if cell["name"] not in checked:
            check_settings(cell["settings"], f"cell {cell['name']}")

    manifest = dict(
        experiment=experiment.name, reproduces=experiment.reproduces,
        kind=experiment.kind, version=__version__,
        base_options=to_options(base), base=base,
        default_cell=experiment.default_cell(preset),
        cells=[{k: c[k] for k in ("name", "options", "settings")}
               for c in cells],
        seeds=list(seeds),
        from_runs=str(Path(from_runs).resolve()) if from_runs is not None
        else None)
    _merged(out, manifest)  # refuses a folder it cannot join
    return Plan(experiment, out, base, cells, list(seeds),
                Path(from_runs) if from_runs is not None else None, manifest)


def _merge(existing: dict, new: dict, out: Path) -> dict:
    """The manifest of a folder run again: the same experiment and base
    configuration, the union of the cells and seeds."""
    if existing.get("experiment") != new["experiment"]:
        raise ValueError(f"--out: {out} holds the runs of experiment "
                         f"{existing.get('experiment')!r}, not "
                         f"{new['experiment']!r}; use another folder")
    for key, what in (("base", "base options"), ("from_runs", "--from-runs")):
        if _placeless(existing.get(key)) != _placeless(new[key]):
            raise ValueError(f"--out: {out} holds runs of {new['experiment']}"
                             f" with other {what} ({existing.get(key)}); use "
                             f"another folder")
    cells = {c["name"]: c for c in existing["cells"]}
    for cell in new["cells"]:
        old = cells.get(cell["name"])
        if old is not None and \
                _placeless(old["settings"]) != _placeless(cell["settings"]):
            raise ValueError(f"--out: {out} holds cell {cell['name']!r} with "
                             f"other options ({' '.join(old['options'])}); "
                             f"use another folder")
        cells[cell["name"]] = cell
    seeds = list(existing["seeds"]) + [s for s in new["seeds"]
                                       if s not in existing["seeds"]]
    return dict(new, cells=list(cells.values()), seeds=seeds)


def _placeless(settings):
    # Options without the device: a sweep may go on elsewhere, as
    # `dsgdn train --resume` may (each run's identity leaves it out too).
    if not isinstance(settings, dict):
        return settings
    return {k: v for k, v in settings.items() if k != "device"}


def run_dir(cell: dict, seed: int) -> Path:
    """The run directory of one (cell, seed)."""
    return Path(cell["run_root"]) / f"seed-{seed}"


def evaluation_path(out: Path, cell: str, seed: int) -> Path:
    return Path(out) / EVALUATIONS / cell / f"seed-{seed}.json"


def tasks(plan: Plan) -> List[dict]:
    """One picklable task per (cell, seed), in grid order."""
    experiment = plan.experiment
    out = []
    for cell in plan.cells:
        for seed in plan.seeds:
            path = run_dir(cell, seed)
            task = dict(experiment=experiment.name, kind=experiment.kind,
                        cell=cell["name"], seed=seed,
                        settings=cell["settings"], run_dir=str(path),
                        train=plan.from_runs is None)
            if experiment.kind == "evaluate":
                task["evaluation"] = str(evaluation_path(
                    plan.out, cell["name"], seed))
                task["conditions"] = [c.__dict__ for c in
                                      experiment.conditions]
            elif experiment.kind == "overhead":
                task["train"] = False
                task["overhead"] = str(path / OVERHEAD)
            out.append(task)
    return out


def _merged(out: Path, manifest: dict) -> dict:
    """:obj:`manifest` merged with the one :obj:`out` already holds; a
    one-line error for a folder holding something else."""
    existing = read_manifest(out)
    if existing is not None:
        return _merge(existing, manifest, out)
    if out.exists() and (not out.is_dir() or not is_empty(out)):
        raise ValueError(f"--out: {out} is not empty and holds no experiment "
                         f"manifest ({MANIFEST}); expected a new folder or "
                         f"one of this experiment's")
    return manifest


def write_manifest(plan: Plan) -> None:
    """Merges the plan's cells and seeds into the folder's manifest, under
    the folder's lock: shards that start at once each add theirs (read,
    merge and write are one step for each), and a conflicting manifest
    written meanwhile is still refused."""
    files.make_dir(plan.out)
    with lock.hold(plan.out, f"--out {plan.out}", wait=True):
        plan.manifest = _merged(plan.out, plan.manifest)
        files.write_json(plan.out / MANIFEST, plan.manifest)
