"""The Typer parameters of the ``dsgdn train`` options, made from their one
declaration, :data:`dsgdn_pyg.training.options.TRAIN_OPTIONS`.

:data:`TRAIN` holds each option as a Typer ``Annotated`` type (its flag,
help and metavar; the default goes after ``=``, as Typer's ``Annotated``
style wants it). ``dsgdn train`` takes every one of them, with its
declared default (:func:`train_parameters`); ``dsgdn experiment run`` takes
those of :data:`SWEEP`, the same options with the help they have there and
``None`` for "as the base configuration leaves it".
"""

import inspect
from typing import Annotated, Any, Callable, Dict, Optional

import typer

from dsgdn_pyg.cli.common import given
from dsgdn_pyg.training.options import TRAIN_OPTIONS, TrainOption


def typer_option(option: TrainOption, help: Optional[str] = None,
                 optional: bool = False) -> Any:
    """``Annotated[type, typer.Option(...)]`` of :obj:`option` (``Optional``
    where its default is ``None``, or where :obj:`optional` says)."""
    kind = option.type
    if optional or option.default is None:
        kind = Optional[kind]
    flag = option.flag
    if option.negatable:
        flag = f"{flag}/--no-{flag[2:]}"
    return Annotated[kind, typer.Option(flag, help=help or option.help,
                                        metavar=option.metavar)]


#: Every ``dsgdn train`` option, by setting name.
TRAIN: Dict[str, Any] = {o.key: typer_option(o) for o in TRAIN_OPTIONS}
#: The options ``dsgdn experiment run`` has of its own (the others it takes
#: as extra words), by setting name.
SWEEP: Dict[str, Any] = {o.key: typer_option(o, o.sweep_help, optional=True)
                         for o in TRAIN_OPTIONS if o.sweep_help}


def train_parameters(command: Callable) -> Callable:
    """Gives :obj:`command`, ``command(ctx, **values)``, every ``dsgdn
    train`` option as a keyword parameter with its default, in the order of
    :data:`~dsgdn_pyg.training.options.TRAIN_OPTIONS` (the order of
    ``--help``)."""
    ctx = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                            annotation=typer.Context)
    command.__signature__ = inspect.Signature([ctx] + [
        inspect.Parameter(o.key, inspect.Parameter.KEYWORD_ONLY,
                          default=o.default, annotation=TRAIN[o.key])
        for o in TRAIN_OPTIONS])
    return command


def given_options(ctx: typer.Context) -> set:
    """The parameters of :obj:`ctx`'s command given on the command line."""
    return {name for name in ctx.params if given(ctx, name)}
