"""`dsgdn experiment report`: what an experiment folder holds, as a
markdown table, a JSON file and a plot in the paper's form.

Every number is the test metric at the epoch selected on validation, as
mean +- std over the seeds that finished; each cell is compared with the
default cell by the paired difference over the seeds both have, with a 95%
t-interval. Runs that are missing are listed, never averaged away, and so
are the runs of other options than their cell's and the measurements of a
``best.pt`` the run no longer holds.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

import numpy as np

from dsgdn_pyg.errors import MissingExtraError
from dsgdn_pyg.experiments import plan as planning
from dsgdn_pyg.experiments import plots
from dsgdn_pyg.experiments.registry import (OVERHEAD_METRICS, TABLE4, Cell,
                                            Condition, Experiment,
                                            get_experiment)
from dsgdn_pyg.experiments.statistics import mean_std, paired_difference
from dsgdn_pyg.models.config import parse_modalities
from dsgdn_pyg.training import lock
from dsgdn_pyg.training import run_dir as files

REPORT_MD, REPORT_JSON, PLOT = (planning.REPORT_MD, planning.REPORT_JSON,
                                planning.PLOT)
METRICS = ("weighted_f1", "accuracy")


def modality_code(spec) -> str:
    return "".join(m[0] for m in parse_modalities(spec or "tav"))


def _paper(experiment, cell, preset: str, modalities: str,
           default: str) -> Optional[tuple]:
    """The paper's (F1, accuracy) of a cell, where the paper measured that
    configuration: the full-modality numbers only for a run with all three
    modalities; the default cell with fewer modalities gets Table 4's."""
    if cell.paper_modalities is not None:
        return cell.paper.get(preset)
    if cell.name == default and modalities != "tav":
        return TABLE4.get(preset, {}).get(modalities)
    return cell.paper.get(preset) if modalities == "tav" else None


def _load(path: Path) -> Optional[dict]:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


@dataclass
class Found:
    """What an experiment folder holds for one (cell, seed): the metrics
    per condition, or why it is missing."""
    conditions: Dict[str, dict] = field(default_factory=dict)
    classes: Optional[list] = None
    protocols: Tuple[str, ...] = ()  # the epoch selection of a run
    missing: Optional[dict] = None


def _missing(cell: str, seed: int, path: Path, status: str,
             reason: Optional[str] = None) -> Found:
    return Found(missing=dict(cell=cell, seed=seed, path=str(path),
                              status=status, reason=reason))


def _mismatch(out: Path, run: Path, cell: dict,
              seed: int) -> Optional[Found]:
    """A run of other options than its cell's, as missing; else ``None``.
    A cell whose settings are no `dsgdn train` options is a one-line error
    naming the manifest."""
    try:
        reason = planning.run_mismatch(run, cell["settings"], seed)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{out / planning.MANIFEST}: cell {cell['name']!r}:"
                         f" {exc}".splitlines()[0]) from None
    if reason is None:
        return None
    return _missing(cell["name"], seed, run, "other options", reason)


def _trained(out: Path, run: Path, cell: dict, seed: int) -> Found:
    """A ``train`` experiment's run: its test metrics at the selected
    epoch, once the run is complete and is its cell's."""
    mismatch = _mismatch(out, run, cell, seed)
    if mismatch is not None:
        return mismatch
    status = files.run_status(run)
    report = _load(run / files.REPORT_JSON) if status == "complete" else None
    if report is None:
        return _missing(cell["name"], seed, run, status,
                        files.divergence(run) if status == "diverged"
                        else None)
    return Found({"test": dict(report["test"],
                               best_epoch=report["best_epoch"])},
                 classes=report.get("classes"),
                 protocols=(report.get("selected_on", "valid"), ))


def _evaluated(out: Path, run: Path, cell: dict, seed: int) -> Found:
    """An ``evaluate`` experiment's measurement of a trained run: its
    metrics under every test-time condition, while the run holds the
    ``best.pt`` measured."""
    name = cell["name"]
    path = planning.evaluation_path(out, name, seed)
    mismatch = _mismatch(out, run, cell, seed)
    if mismatch is not None:
        return mismatch
    status = files.run_status(run)
    record = _load(path)
    if record is None or status != "complete":
        return _missing(name, seed, path, status)
    stale = planning.stale_evaluation(record, run)
    if stale is not None:
        return _missing(name, seed, path, "stale", stale)
    return Found(dict(record["conditions"]),
                 classes=(_load(run / files.REPORT_JSON) or {}).get("classes"))


def _measured(out: Path, run: Path, cell: dict, seed: int) -> Found:
    """An ``overhead`` experiment's timings and FLOPs of a cell, while
    they are a measurement of the cell's settings."""
    path = run / planning.OVERHEAD
    record = _load(path)
    if record is None:
        return _missing(cell["name"], seed, path, "missing")
    stale = planning.stale_overhead(record, dict(
        settings=cell["settings"], seed=seed, overhead=str(path)))
    if stale is not None:
        return _missing(cell["name"], seed, path, "stale", stale)
    return Found({"overhead": record})


class Collector(NamedTuple):
    """How one kind of experiment is read: what a (cell, seed) holds (given
    the manifest's cell), and the conditions that make a cell's rows."""
    read: Callable[[Path, Path, dict, int], Found]
    conditions: Callable[[Experiment], List[Tuple[str, Optional[Condition]]]]


COLLECTORS = {
    "train": Collector(_trained, lambda experiment: [("test", None)]),
    "evaluate": Collector(_evaluated, lambda experiment: [
        (c.name, c) for c in experiment.conditions]),
    "overhead": Collector(_measured, lambda experiment: [("overhead", None)]),
}


def _cells(manifest: dict, root: Path, out: Path, preset: str) -> dict:
    """The cells by name: the experiment's own, or those of the experiment
    whose runs it measured (``--from-runs``)."""
    source = planning.read_manifest(root) if root != out else None
    name = (source or manifest)["experiment"]
    return {c.name: c for c in get_experiment(name).cells(preset)}


def collect(out: Path) -> dict:
    """The rows of an experiment folder: per cell (and condition), the
    per-seed metrics, their mean +- std and the difference from the
    default; plus the runs still missing."""
    out = Path(out)
    if not out.is_dir():
        what = "no such directory" if not out.exists() else \
            "is a file, not a directory"
        raise ValueError(f"report: {out}: {what}; expected the --out folder "
                         f"of `dsgdn experiment run`")
    manifest = planning.read_manifest(out)
    if manifest is None:
        raise ValueError(f"report: {out} holds no experiment manifest "
                         f"({planning.MANIFEST}); expected the --out folder "
                         f"of `dsgdn experiment run`")
    experiment = get_experiment(manifest["experiment"])
    collector = COLLECTORS[experiment.kind]
    base = manifest["base"]
    preset = base.get("preset", "iemocap")
    modalities = modality_code(base.get("modalities"))
    default = manifest["default_cell"]
    root = Path(manifest["from_runs"]) if manifest.get("from_runs") else out
    cells = _cells(manifest, root, out, preset)
    found = {(entry["name"], seed): collector.read(
        out, root / entry["name"] / f"seed-{seed}", entry, seed)
        for entry in manifest["cells"] for seed in manifest["seeds"]}
    rows = []
    for entry in manifest["cells"]:
        name = entry["name"]
        cell = _registered(cells.get(name), entry, base)
        label = cell.label if cell else " ".join(entry["options"])
        values = _per_condition(found, name, manifest["seeds"])
        selected_on = sorted({p for seed in manifest["seeds"]
                              for p in found[name, seed].protocols})
        rows += [dict(_row(name, label, cell, cond_name, cond,
                           values.get(cond_name, {}), experiment, preset,
                           modalities, default), selected_on=selected_on)
                 for cond_name, cond in collector.conditions(experiment)]
    _differences(rows, experiment, default)
    return dict(experiment=experiment.name,
                reproduces=experiment.reproduces, varies=experiment.varies,
                kind=experiment.kind, base_options=manifest["base_options"],
                preset=preset, modalities=modalities, seeds=manifest["seeds"],
                default_cell=default,
                default_condition=experiment.default_condition,
                from_runs=manifest.get("from_runs"),
                selected_on=sorted({p for f in found.values()
                                    for p in f.protocols}),
                classes=_classes(found.values()),
                rows=rows, missing=[f.missing for f in found.values()
                                    if f.missing is not None])


def _registered(cell: Optional[Cell], entry: dict,
                base: dict) -> Optional[Cell]:
    """The experiment's own cell of a manifest entry: its label, axis
    position and paper numbers; ``None`` for a cell that ``--cell``
    added or replaced with other options (the paper measured no such
    configuration)."""
    if cell is None:
        return None
    own = json.loads(json.dumps(dict(base, **cell.overrides)))
    return cell if own == entry["settings"] else None


def _classes(found) -> Optional[list]:
    """The class names of the first (cell, seed) found that names them."""
    classes = None
    for f in found:
        if f.missing is None:
            classes = classes or f.classes
    return classes


def _per_condition(found: Dict[Tuple[str, int], Found], cell: str,
                   seeds: List[int]) -> Dict[str, Dict[int, dict]]:
    """A cell's metrics as condition -> seed -> metrics (missing seeds
    left out)."""
    per_condition: Dict[str, Dict[int, dict]] = {}
    for seed in seeds:
        for cond, metrics in found[cell, seed].conditions.items():
            per_condition.setdefault(cond, {})[seed] = metrics
    return per_condition


def _metric_keys(experiment) -> List[str]:
    return [k for k, _ in OVERHEAD_METRICS] if experiment.kind == \
        "overhead" else list(METRICS)


def _row(name, label, cell, cond_name, cond, values, experiment, preset,
         modalities, default) -> dict:
    row = dict(cell=name, label=label, condition=cond_name,
               condition_label=cond.label if cond else None,
               x=cond.x if cond is not None and cond.x is not None else
               (cell.x if cell else None),
               y=cell.y if cell else None, seeds=sorted(values))
    for key in _metric_keys(experiment):
        per_seed = {s: v[key] for s, v in values.items()
                    if v.get(key) is not None}
        row[key] = dict(per_seed={str(s): v for s, v in per_seed.items()},
                        **(mean_std(per_seed.values()) or {}))
    confusions = [v["confusion"] for v in values.values() if "confusion" in v]
    row["confusion"] = np.sum(confusions, 0).tolist() if confusions else None
    paper = _paper(experiment, cell, preset, modalities, default) \
        if cell and experiment.kind == "train" else None
    row["paper"] = dict(weighted_f1=paper[0], accuracy=paper[1]) \
        if paper else None
    return row


def _differences(rows: List[dict], experiment, default: str) -> None:
    """Each row's paired difference from its reference row: the default
    cell (train, overhead) or, within the same cell, the default condition
    (evaluate)."""
    for row in rows:
        if experiment.kind == "evaluate":
            ref = next((r for r in rows if r["cell"] == row["cell"] and
                        r["condition"] == experiment.default_condition),
                       None)
        else:
            ref = next((r for r in rows if r["cell"] == default), None)
        row["is_reference"] = ref is row
        row["difference"] = {}
        if ref is None or ref is row:
            continue
        for key in _metric_keys(experiment):
            cell_values = {int(s): v for s, v in
                           row[key]["per_seed"].items()}
            ref_values = {int(s): v for s, v in ref[key]["per_seed"].items()}
            d = paired_difference(cell_values, ref_values)
            if d is not None:  # the seeds either row has: said if unpaired
                d["of"] = len(set(cell_values) | set(ref_values))
            row["difference"][key] = d


def _pct(stat: Optional[dict], scale: float = 100.0,
         digits: int = 2) -> str:
    if not stat or "mean" not in stat:
        return "—"
    text = f"{scale * stat['mean']:.{digits}f}"
    if stat.get("n", 0) < 2:
        return text  # one seed has no spread to show
    return text + f" ± {scale * stat['std']:.{digits}f}"


def _diff(d: Optional[dict], scale: float = 100.0, digits: int = 2) -> str:
    if not d:
        return "—"
    text = f"{scale * d['mean']:+.{digits}f}"
    paired = f", {d['n']} of {d['of']} seeds paired" \
        if d.get("of", d["n"]) > d["n"] else ""
    if d["low"] is None:
        return text + f" (1 seed, no CI{paired})"
    star = " *" if d["significant"] else ""
    return (f"{text} [{scale * d['low']:+.{digits}f}, "
            f"{scale * d['high']:+.{digits}f}]{star}"
            + (f" ({paired[2:]})" if paired else ""))


def _paper_cell(row: dict, key: str) -> str:
    value = (row["paper"] or {}).get(key)
    return "—" if value is None else f"{value:.2f}"


def _legacy_cells(report: dict) -> Tuple[List[str], bool]:
    """The cells with a run that selected its epoch on test (the legacy
    protocol), and whether that is every cell with a run."""
    measured = [r for r in report["rows"] if r.get("selected_on")]
    legacy = list(dict.fromkeys(r["cell"] for r in measured
                                if "test" in r["selected_on"]))
    return legacy, bool(legacy) and len(legacy) == len(
        {r["cell"] for r in measured})


def format_markdown(report: dict) -> str:
    experiment = get_experiment(report["experiment"])
    legacy_cells, legacy = _legacy_cells(report)
    lines = [f"# `{report['experiment']}`: the paper's {report['reproduces']}",
             "", f"Varies: {report['varies']}.", "",
             f"Base options: `{' '.join(report['base_options']) or '(none)'}`"
             f" (preset {report['preset']}, modalities "
             f"{report['modalities']}); seeds "
             f"{', '.join(map(str, report['seeds']))}."]
    if report["from_runs"]:
        lines.append(f"Measured on the trained runs of "
                     f"`{report['from_runs']}` (no retraining).")
    if experiment.kind == "overhead":
        lines += ["", f"Cost of each cell's model: mean ± std over seeds "
                  f"(no std for one seed); in brackets the change of the "
                  f"mean against the reference cell "
                  f"{report['default_cell']}.", ""]
    else:
        lines += ["", ("**LEGACY protocol: epochs selected on TEST.**"
                       if legacy else
                       "Test metrics at the epoch selected on validation,")
                  + " mean ± std over seeds (no std for one seed); Δ: "
                  "paired difference over seeds from the reference row, "
                  "with its 95% t-interval (* when it excludes 0).", ""]
        if legacy_cells and not legacy:
            lines[-1:] = ["", f"**LEGACY protocol (epochs selected on "
                          f"TEST) in the rows marked LEGACY: cell"
                          f"{'s' if len(legacy_cells) > 1 else ''} "
                          f"{', '.join(legacy_cells)}.** Their Δ compares "
                          f"two protocols.", ""]
    if experiment.kind == "overhead":
        lines += _overhead_table(report)
    else:
        lines += _metric_table(report, experiment)
    if report["missing"]:
        lines += ["", f"## Missing runs ({len(report['missing'])})", "",
                  "Not in the means above:", ""]
        lines += [f"- {m['cell']} seed {m['seed']}: {m['status']}"
                  + (f": {m['reason']}" if m.get("reason") else "")
                  + f" (`{m['path']}`)" for m in report["missing"]]
    else:
        lines += ["", "No run is missing."]
    return "\n".join(lines) + "\n"


def _metric_table(report: dict, experiment) -> List[str]:
    evaluate = experiment.kind == "evaluate"
    ref = ("the same cell's " + report["default_condition"]) if evaluate \
        else report["default_cell"]
    head = ["cell", "setting"] + (["condition"] if evaluate else []) + \
        ["seeds", "test wF1", "test acc"] + \
        ([] if evaluate else ["paper wF1", "paper acc"]) + \
        [f"Δ wF1 vs {ref} [95% CI]", "Δ acc [95% CI]"]
    legacy_cells, every = _legacy_cells(report)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in report["rows"]:
        name = row["cell"] + (" (reference)" if row["is_reference"] and
                              not evaluate else "")
        if row["cell"] in legacy_cells and not every:
            name += " (LEGACY)"
        cells = [name, row["label"]]
        if evaluate:
            cells.append(row["condition_label"] +
                         (" (reference)" if row["is_reference"] else ""))
        cells += [str(len(row["seeds"])), _pct(row["weighted_f1"]),
                  _pct(row["accuracy"])]
        if not evaluate:
            cells += [_paper_cell(row, "weighted_f1"),
                      _paper_cell(row, "accuracy")]
        cells += [_diff(row["difference"].get("weighted_f1")),
                  _diff(row["difference"].get("accuracy"))]
        lines.append("| " + " | ".join(cells) + " |")
    if not evaluate:
        lines += ["", "Paper numbers are shown only where the paper "
                  "measured the same configuration (its ablations use all "
                  "three modalities; a run with fewer modalities gets the "
                  "paper's Table 4 number on its default cell only)."]
    return lines


def _overhead_table(report: dict) -> List[str]:
    head = ["cell", "setting", "seeds"] + [label for _, label in
                                           OVERHEAD_METRICS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in report["rows"]:
        cells = [row["cell"], row["label"], str(len(row["seeds"]))]
        for key, _ in OVERHEAD_METRICS:
            stat = row[key]
            text = "—" if "mean" not in stat else \
                f"{stat['mean']:.4g}" + (f" ± {stat['std']:.2g}"
                                         if stat["n"] > 1 else "")
            d = row["difference"].get(key)
            ref = row[key].get("mean") if d else None
            if d and ref:
                text += f" ({100 * d['mean'] / (ref - d['mean']):+.1f}%)"
            cells.append(text)
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def write_report(out: Path, plot: Optional[bool] = None) -> dict:
    """Writes ``report.md``, ``report.json`` and ``plot.png`` into the
    experiment folder; returns the report with the paths written. The plot
    needs matplotlib (the ``bench`` extra): ``plot=None`` leaves it out,
    with a note, where matplotlib is missing; ``plot=True`` then raises
    :class:`~dsgdn_pyg.errors.MissingExtraError`. Holds the folder's lock
    while it reads and writes, so that of shards finishing at once the last
    to write has read every run the others finished."""
    out = Path(out)
    if not (out / planning.MANIFEST).is_file():
        return _write_report(out, plot)  # collect's error
    with lock.hold(out, f"report: {out}", wait=True):
        return _write_report(out, plot)


def _write_report(out: Path, plot: Optional[bool]) -> dict:
    report = collect(out)
    notes = []
    if plot is None:
        try:
            plots.require_matplotlib()
            plot = True
        except MissingExtraError as exc:
            plot = False
            notes.append(f"plot left out: {exc}")
    elif plot:
        plots.require_matplotlib()
    files.write_json(out / REPORT_JSON, report)
    files.write_text(out / REPORT_MD, format_markdown(report))
    report["written"] = [str(out / REPORT_MD), str(out / REPORT_JSON)]
    if plot:
        plots.plot_report(report, out / PLOT)
        report["written"].append(str(out / PLOT))
    report["notes"] = notes
    return report
