"""The options of `dsgdn train`, declared once (dsgdn_pyg.training.options):
the commands' parameters, the experiments' cells and the requests are all
made from that one table."""

import pytest
import typer.main

from dsgdn_pyg.cli import app
from dsgdn_pyg.errors import check_device_name
from dsgdn_pyg.experiments import EXPERIMENTS
from dsgdn_pyg.experiments import plan as planning
from dsgdn_pyg.training.options import (OPTION, SWEEP_OPTIONS,
                                        TRAIN_OPTIONS, as_overrides,
                                        parse_options, to_options)
from dsgdn_pyg.training.session import TrainRequest, request_from_options


def _command(*path):
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    return {p.name: p for p in command.params}


def test_train_takes_every_option_of_the_table_as_declared():
    params = _command("train")
    assert list(params) == [o.key for o in TRAIN_OPTIONS]
    for option in TRAIN_OPTIONS:
        param = params[option.key]
        assert param.opts == [option.flag]
        assert param.secondary_opts == (
            [f"--no-{option.flag[2:]}"] if option.negatable else [])
        assert param.default == option.default
        assert param.help == option.help


def test_experiment_run_takes_the_same_options_with_its_own_help():
    params = _command("experiment", "run")
    own = [o for o in TRAIN_OPTIONS if o.sweep_help]
    assert [o.key for o in own] == ["data", "preset", "modalities", "epochs",
                                    "input_dims"]
    for option in own:
        param = params[option.key]
        assert param.opts == [option.flag] and param.default is None
        assert param.help == option.sweep_help
        assert option.flag in SWEEP_OPTIONS


def test_a_request_has_the_tables_defaults():
    request = TrainRequest()
    for option in TRAIN_OPTIONS:
        if option.part == "request" and option.key != "synthetic_dialogues":
            assert getattr(request, option.key) == option.default
    assert request.seeds == [OPTION["seed"].default]


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_cells_are_overrides_that_read_back_from_their_words(name):
    for cell in EXPERIMENTS[name].cells("iemocap"):
        assert set(cell.overrides) <= {o.key for o in SWEEP_OPTIONS.values()}
        assert parse_options(cell.options) == dict(cell.overrides)
        assert to_options(cell.overrides) == list(cell.options)


def test_overrides_as_words_or_settings_are_the_same_request():
    words = ["--window", "5", "--no-modality-dropout", "--data=x.pkl",
             "--q-base", "0.1"]
    settings = dict(window=5, modality_dropout=False, data="x.pkl",
                    q_base=0.1)
    assert as_overrides(words) == as_overrides(settings) == settings
    request = request_from_options(settings, seeds=[3])
    assert request.seeds == [3] and request.data == "x.pkl"
    assert request.train_overrides["window"] == 5
    assert request.model_overrides["modality_dropout"] is False
    assert request.model_overrides["graph_layer"] is None  # the preset's
    with pytest.raises(ValueError, match="unknown"):
        as_overrides({"seeds": [1]})  # not a setting of an experiment


@pytest.mark.parametrize("option, value, words", [
    ("--valid-fraction", "2", "--valid-fraction"),
    ("--split-seed", "-1", "--split-seed"),
    ("--synthetic-dialogues", "0", "--synthetic-dialogues"),
])
def test_an_experiments_base_is_checked_as_a_run_is(tmp_path, option,
                                                    value, words):
    with pytest.raises(ValueError, match=f"base configuration: {words}"):
        planning.make_plan("graph", [option, value], [1], tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["auto", "cpu", "cuda", "cuda:1", "cpu:0"])
def test_a_device_name_torch_reads_passes_the_early_check(name):
    check_device_name("--device", name)


@pytest.mark.parametrize("name", ["tpu", "gpu", "cuda:", "cuda:x", "", None])
def test_any_other_device_name_is_one_line_naming_the_flag(name):
    with pytest.raises(ValueError, match=r"^--device: expected auto, cpu "
                       r"or cuda\[:N\], got"):
        check_device_name("--device", name)
