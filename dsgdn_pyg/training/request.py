"""What ``dsgdn train`` is asked for: a :class:`TrainRequest` made from
option values, and every setting it resolves to, checked.

Nothing here reads data or imports torch, so that a bad option is refused
at once (importing torch and PyG takes seconds on a laptop).
"""

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Collection, List, Mapping, Optional

from dsgdn_pyg.errors import parse_int_list, refuse_together
from dsgdn_pyg.io import check_corpus_path, check_writable, to_json
from dsgdn_pyg.models.config import (parse_fusion_weights, parse_modalities,
                                     preset_config)
from dsgdn_pyg.training.config import recipe_config
from dsgdn_pyg.training.options import DEFAULT, OPTION, TRAIN_OPTIONS
from dsgdn_pyg.training.run_dir import check_location

# Where and how, not what: free to change on a resume.
FREE_ON_RESUME = ("device", "out", "resume", "overwrite")


@dataclass
class TrainRequest:
    """Everything ``dsgdn train`` was asked for (the defaults are those of
    :data:`~dsgdn_pyg.training.options.TRAIN_OPTIONS`, and
    :func:`request_from_options` makes one from option values).
    :obj:`resume` carries on the interrupted run in :obj:`out`;
    :obj:`overwrite` clears a finished or abandoned one there first."""
    data: Optional[str] = DEFAULT["data"]
    preset: str = DEFAULT["preset"]
    modalities: str = DEFAULT["modalities"]
    seeds: List[int] = field(default_factory=lambda: [DEFAULT["seed"]])
    device: str = DEFAULT["device"]
    out: Optional[Path] = DEFAULT["out"]
    input_dims: str = DEFAULT["input_dims"]
    split_seed: int = DEFAULT["split_seed"]
    valid_fraction: float = DEFAULT["valid_fraction"]
    class_weights: bool = DEFAULT["class_weights"]
    classes: str = DEFAULT["classes"]
    synthetic: Optional[dict] = None
    model_overrides: dict = field(default_factory=dict)
    train_overrides: dict = field(default_factory=dict)
    resume: bool = False
    overwrite: bool = DEFAULT["overwrite"]

    def to_dict(self) -> dict:
        """What ``config.json`` records (``out``, ``device`` and the two
        flags are where and how, not what, so a resume may change them)."""
        values = asdict(self)
        for key in ("out", "resume", "overwrite"):
            values.pop(key)
        return values

    @classmethod
    def from_dict(cls, values: dict, **changes) -> "TrainRequest":
        return cls(**{**values, **changes})


def settings(request: TrainRequest) -> dict:
    """Every setting the request resolves to (the preset's values where it
    gives none), keyed by field name; checks each one on the way (the
    message names the option), before any data is read: the checks of
    :data:`~dsgdn_pyg.training.options.TRAIN_OPTIONS`, then those of the
    model's and the recipe's configurations."""
    for option in TRAIN_OPTIONS:
        if option.check is not None:
            if option.key == "synthetic_dialogues":
                if request.synthetic is None:
                    continue
                value = request.synthetic.get("num_dialogues", 1)
            else:
                value = getattr(request, option.key)
            option.check(option.flag, value)
    if request.synthetic is not None and request.data is not None:
        raise ValueError("--data and --synthetic-dialogues: the built-in "
                         "synthetic dialogues are used only without --data; "
                         "drop one")
    train = recipe_config(request.preset, synthetic=request.data is None,
                          **request.train_overrides).to_dict()
    model = preset_config(request.preset, modalities=request.modalities,
                          **request.model_overrides).to_dict()
    # Derived from the request and the data, or where rather than what.
    for key in ("seed", "device", "extra", "class_weights"):
        train.pop(key)
    for key in ("input_dims", "num_classes", "num_speakers"):
        model.pop(key)
    values = request.to_dict()
    for key in ("model_overrides", "train_overrides", "device"):
        values.pop(key)
    values["modalities"] = list(parse_modalities(request.modalities))
    return json.loads(to_json({**values, **train, **model}))


def request_from_options(values: Mapping[str, Any],
                         given: Optional[Collection[str]] = None,
                         **fields) -> TrainRequest:
    """The request of ``dsgdn train`` option values, keyed as
    :data:`~dsgdn_pyg.training.options.TRAIN_OPTIONS` names them (a
    configuration's overrides, or every option of a command line): an option
    of the request left out takes its default, one of the model or of the
    recipe the preset's value. :obj:`fields` (the seeds and run directory of
    an experiment's run) are set as they are. :obj:`given` names the options
    the user gave (default: those in :obj:`values`).

    Turns the text of ``seeds`` and ``fusion_weights`` into values and
    refuses the options that exclude each other (``--resume`` and
    ``--overwrite``, ``--seed`` and ``--seeds``, ``--resume`` and another
    ``--out``); :func:`settings` checks the rest. With ``resume``, the
    request asks to carry on that run (:func:`run_training` checks it
    against the run's own)."""
    unknown = sorted(set(values) - set(OPTION))
    if unknown:
        raise ValueError(f"settings: unknown {unknown}")
    given = set(values if given is None else given)

    def value(key: str):
        return values.get(key, DEFAULT[key])

    resume = value("resume")
    refuse_together("--resume", resume is not None, "--overwrite",
                    bool(value("overwrite")),
                    "a resumed run keeps its files; choose one")
    refuse_together("--seed", "seed" in given, "--seeds",
                    value("seeds") is not None,
                    "--seeds replaces --seed; give one")
    overrides = {part: {o.key: values.get(o.key) for o in TRAIN_OPTIONS
                        if o.part == part} for part in ("model", "train")}
    overrides["model"]["fusion_weights"] = parse_fusion_weights(
        overrides["model"]["fusion_weights"])
    seeds = value("seeds")
    if seeds is None:
        seeds = [value("seed")]
    elif isinstance(seeds, str):
        seeds = parse_int_list("--seeds", seeds, distinct=True)
    data, dialogues = value("data"), value("synthetic_dialogues")
    request = dict(
        {o.key: value(o.key) for o in TRAIN_OPTIONS if o.part == "request"},
        data=str(data) if data is not None else None, seeds=list(seeds),
        out=value("out"), overwrite=value("overwrite"),
        synthetic=dict(num_dialogues=dialogues) if dialogues is not None
        else None, model_overrides=overrides["model"],
        train_overrides=overrides["train"])
    del request["synthetic_dialogues"]
    if resume is not None:
        if request["out"] is not None and Path(request["out"]) != \
                Path(resume):
            raise ValueError(f"--out {request['out']} and --resume {resume}: "
                             f"the run resumes in its own directory; drop "
                             f"--out")
        request.update(out=Path(resume), resume=True)
    return TrainRequest(**dict(request, **fields))


def check_locations(request: TrainRequest) -> None:
    """The data (a folder or a ``.pkl`` file) and the run directory (where
    files can be created; with :obj:`resume`, a run), checked without
    reading either: a mistyped ``--data``, ``--out`` or ``--resume`` is
    refused before torch is imported. A resumed run's data is its own,
    checked as it is loaded."""
    if request.data is not None and not request.resume:
        check_corpus_path(request.data, "--data")
    if request.out is not None:
        check_location(request.out, request.resume)
        if not request.resume:
            check_writable(request.out, "--out", directory=True)
