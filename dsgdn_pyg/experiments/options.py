"""`dsgdn train` options as settings: the base configuration of an
experiment and each of its cells are lists of those options, read here into
one flat dict and turned into a :class:`TrainRequest`."""

import shlex
from pathlib import Path
from typing import Dict, List, Sequence, Tuple, Union

from dsgdn_pyg.models.amb_dsgdn import parse_fusion_weights, preset_config
from dsgdn_pyg.training.config import recipe_config
from dsgdn_pyg.training.session import INPUT_DIMS, TrainRequest

# option -> (setting, type); a bool setting has --name and --no-name.
OPTIONS: Dict[str, Tuple[str, type]] = {
    "--data": ("data", str),
    "--preset": ("preset", str),
    "--modalities": ("modalities", str),
    "--epochs": ("epochs", int),
    "--device": ("device", str),
    "--lr": ("lr", float),
    "--weight-decay": ("weight_decay", float),
    "--batch-size": ("batch_size", int),
    "--dropout": ("dropout", float),
    "--hidden": ("hidden", int),
    "--num-heads": ("num_heads", int),
    "--heads": ("graph_heads", int),
    "--graph-dropout": ("graph_dropout", float),
    "--window": ("window", int),
    "--graph-layer": ("graph_layer", str),
    "--modality-dropout": ("modality_dropout", bool),
    "--warm-up": ("warm_up_epochs", int),
    "--q-base": ("q_base", float),
    "--q-lambda": ("q_lambda", float),
    "--p-exe": ("p_exe", float),
    "--fusion-weights": ("fusion_weights", str),
    "--class-weights": ("class_weights", bool),
    "--input-dims": ("input_dims", str),
    "--select-on": ("select_on", str),
    "--split-seed": ("split_seed", int),
    "--valid-fraction": ("valid_fraction", float),
    "--synthetic-dialogues": ("synthetic_dialogues", int),
}

MODEL_KEYS = ("dropout", "hidden", "num_heads", "graph_heads",
              "graph_dropout", "graph_layer", "modality_dropout", "q_base",
              "q_lambda", "p_exe", "fusion_weights")
TRAIN_KEYS = ("epochs", "lr", "weight_decay", "batch_size", "window",
              "warm_up_epochs", "select_on")
REQUEST_KEYS = ("data", "preset", "modalities", "device", "input_dims",
                "split_seed", "valid_fraction", "class_weights")

Tokens = Union[str, Sequence[str]]


def _unknown(what: str, token: str) -> ValueError:
    return ValueError(f"{what} {token!r}: expected a `dsgdn train` option "
                      f"({', '.join(sorted(OPTIONS))}, --no-... for "
                      f"--modality-dropout and --class-weights)")


def parse_options(tokens: Tokens, what: str = "option") -> dict:
    """``["--window", "5", "--no-modality-dropout"]`` (or the same as one
    shell-quoted string) -> ``{"window": 5, "modality_dropout": False}``;
    a one-line error naming :obj:`what` for anything else."""
    if isinstance(tokens, str):
        tokens = shlex.split(tokens)
    tokens = list(tokens)
    settings: dict = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        name, sep, value = token.partition("=")
        if name.startswith("--no-") and f"--{name[5:]}" in OPTIONS \
                and OPTIONS[f"--{name[5:]}"][1] is bool and not sep:
            settings[OPTIONS[f"--{name[5:]}"][0]] = False
            i += 1
            continue
        if name not in OPTIONS:
            raise _unknown(what, token)
        key, kind = OPTIONS[name]
        if kind is bool:
            if sep:
                raise _unknown(what, token)
            settings[key] = True
            i += 1
            continue
        if not sep:
            if i + 1 >= len(tokens):
                raise ValueError(f"{what} {name}: expected a value after it")
            value = tokens[i + 1]
            i += 1
        i += 1
        try:
            settings[key] = kind(value)
        except ValueError:
            raise ValueError(f"{what} {name}: expected {kind.__name__}, got "
                             f"{value!r}") from None
    return settings


def to_options(settings: dict) -> List[str]:
    """The inverse of :func:`parse_options`: the options a `dsgdn train`
    command line would take."""
    names = {key: name for name, (key, _) in OPTIONS.items()}
    out: List[str] = []
    for key, value in settings.items():
        name = names[key]
        if isinstance(value, bool):
            out.append(name if value else f"--no-{name[2:]}")
        else:
            out += [name, str(value)]
    return out


def build_request(settings: dict, seed: int, out: Path,
                  **extra) -> TrainRequest:
    """The :class:`TrainRequest` of one run: the settings, one seed, its run
    directory."""
    unknown = set(settings) - set(MODEL_KEYS) - set(TRAIN_KEYS) - \
        set(REQUEST_KEYS) - {"synthetic_dialogues"}
    if unknown:
        raise ValueError(f"settings: unknown {sorted(unknown)}")
    model = {k: settings.get(k) for k in MODEL_KEYS}
    model["fusion_weights"] = parse_fusion_weights(model["fusion_weights"])
    request = {k: settings[k] for k in REQUEST_KEYS if k in settings}
    if settings.get("data") is not None:
        request["data"] = str(settings["data"])
    dialogues = settings.get("synthetic_dialogues")
    return TrainRequest(
        seeds=[seed], out=Path(out),
        synthetic=dict(num_dialogues=dialogues) if dialogues else None,
        model_overrides=model,
        train_overrides={k: settings.get(k) for k in TRAIN_KEYS},
        **request, **extra)


def check_settings(settings: dict, what: str) -> None:
    """Builds the model and training configurations of :obj:`settings`
    without data, so that a bad value fails before anything is written."""
    request = build_request(settings, 0, Path("."))
    if request.data is not None and not Path(request.data).exists():
        raise ValueError(f"--data: {request.data} does not exist")
    if request.input_dims not in INPUT_DIMS:
        raise ValueError(f"{what}: --input-dims: expected one of "
                         f"{INPUT_DIMS}, got {request.input_dims!r}")
    try:
        preset_config(request.preset, modalities=request.modalities,
                      **request.model_overrides)
        recipe_config(request.preset, synthetic=request.data is None,
                      **request.train_overrides)
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from None
