"""``best.pt`` and ``last.pt`` keep the weights under one key, and the
checkpoints of the earlier layout (``last.pt`` with its weights under
``"model"``) still load and resume, bit for bit (CPU, in-process)."""

import pytest
import torch

from fault_runner import assert_same, run_contents

from dsgdn_pyg.training import checkpoint, load_model
from dsgdn_pyg.training import run_dir as files
from dsgdn_pyg.training.session import TrainRequest, run_training
from dsgdn_pyg.training.trainer import TrainCallback


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _request(out, **changes) -> TrainRequest:
    # 9 training dialogues in batches of 4; modality dropout from epoch 2.
    return TrainRequest(out=out, device="cpu",
                        synthetic=dict(num_dialogues=12),
                        model_overrides=dict(hidden=16, num_heads=2),
                        train_overrides=dict(epochs=3, batch_size=4,
                                             warm_up_epochs=1),
                        **changes)


class _Stop(Exception):
    pass


class _StopAfter(TrainCallback):
    """Stops the run once epoch :obj:`epoch`'s last.pt is written."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_epoch_end(self, record: dict) -> None:
        if record["epoch"] == self.epoch:
            raise _Stop


def _as_earlier_last_pt(path) -> None:
    """Rewrites a ``last.pt`` in the layout written before the two
    checkpoints were named alike: the weights under ``"model"``, first."""
    state = torch.load(path, weights_only=True)
    old = dict(model=state.pop("state_dict"))
    old.update(state)
    assert list(old) == ["model", "optimizer", "epoch", "history", "rng",
                         "run", "best"]
    files.save_checkpoint(path, old)


@pytest.fixture
def reference(tmp_path, one_thread):
    out = tmp_path / "reference"
    run_training(_request(out), log=lambda _: None)
    return out


def test_both_checkpoints_keep_the_weights_under_one_key(reference):
    best = torch.load(reference / files.CHECKPOINT, weights_only=True)
    last = torch.load(reference / files.LAST, weights_only=True)
    assert checkpoint.WEIGHTS == "state_dict"
    for payload in (best, last):
        assert "state_dict" in payload
        assert checkpoint.weights(payload) is payload["state_dict"]
    assert isinstance(best["model"], dict) and "hidden" in best["model"]
    assert "model" not in last
    assert set(best["state_dict"]) == set(last["state_dict"])


def test_an_earlier_last_pt_resumes_bit_identically(reference, tmp_path,
                                                    one_thread):
    out = tmp_path / "run"
    with pytest.raises(_Stop):
        run_training(_request(out), callback=_StopAfter(2),
                     log=lambda _: None)
    _as_earlier_last_pt(out / files.LAST)
    state = files.load_checkpoint(out, files.LAST)
    assert "state_dict" not in state and state["epoch"] == 2
    assert checkpoint.weights(state) is state["model"]

    run_training(_request(out, resume=True), log=lambda _: None)
    assert files.run_status(out) == "complete"
    assert (out / files.CHECKPOINT).read_bytes() == \
        (reference / files.CHECKPOINT).read_bytes()
    got, want = run_contents(out), run_contents(reference)
    assert set(got) == set(want)
    assert_same(got, want)  # the resumed last.pt has the new naming


def test_a_best_pt_of_the_earlier_layout_loads(reference, tmp_path):
    """``best.pt`` written by hand as the earlier code wrote it: weights
    under ``state_dict``, then the epoch and the run's configuration."""
    import json
    model, config = load_model(reference)
    run_config = json.loads((reference / files.CONFIG).read_text())
    out = tmp_path / "by-hand"
    out.mkdir()
    torch.save(dict(state_dict=model.state_dict(), epoch=3, **run_config),
               out / files.CHECKPOINT)
    loaded, loaded_config = load_model(out)
    assert loaded_config["epoch"] == 3
    assert loaded_config["model"] == config["model"]
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor)


def test_a_checkpoint_without_weights_is_a_key_error():
    with pytest.raises(KeyError):
        checkpoint.weights(dict(model=dict(hidden=16), epoch=1))
