"""The restricted unpickler: refuses code, round-trips plain data."""

import builtins
import collections
import io
import os
import pickle
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from dsgdn_pyg.data.safe_pickle import safe_load
from dsgdn_pyg.errors import DataError

IEMOCAP_PKL = (Path(__file__).resolve().parents[1].parent / "shared" / "data"
               / "iemocap" / "iemocap.pkl")


class Payload:
    """Pickles as a call of ``func(*args)``: what a malicious file does."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def payloads(marker: Path):
    return {
        "posix.system": Payload(os.system, f"touch '{marker}'"),
        "builtins.eval": Payload(builtins.eval,
                                 f"open({str(marker)!r}, 'w').close()"),
        "subprocess.Popen": Payload(subprocess.Popen, ["touch", str(marker)]),
    }


@pytest.mark.parametrize("name", ["posix.system", "builtins.eval",
                                  "subprocess.Popen"])
@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_code_execution_is_refused(tmp_path, name, protocol):
    marker = tmp_path / "pwned"
    evil = {"labels": [1, 2], "x": [payloads(marker)[name]]}
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(evil, protocol=protocol))

    with pytest.raises(DataError) as info:
        safe_load(path)
    message = str(info.value)
    assert message == (f"{path}: refusing to unpickle '{name}': only plain "
                       f"containers, numbers, strings and numpy arrays are "
                       f"allowed")
    assert not marker.exists()

    # The payload is live: an ordinary unpickler runs it.
    result = pickle.loads(path.read_bytes())
    if isinstance(result["x"][0], subprocess.Popen):
        result["x"][0].wait()
    assert marker.exists()


def test_torch_tensor_is_refused(tmp_path):
    path = tmp_path / "tensor.pkl"
    path.write_bytes(pickle.dumps({"text": torch.ones(3)}))
    with pytest.raises(DataError, match=r"refusing to unpickle 'torch\."):
        safe_load(path)


def test_file_objects_and_streams(tmp_path):
    marker = tmp_path / "pwned"
    data = pickle.dumps(payloads(marker)["posix.system"])
    with pytest.raises(DataError, match=r"^<stream>: refusing"):
        safe_load(io.BytesIO(data))
    path = tmp_path / "evil.pkl"
    path.write_bytes(data)
    with open(path, "rb") as f, pytest.raises(DataError,
                                              match=f"^{path}: refusing"):
        safe_load(f)
    assert not marker.exists()
    assert safe_load(io.BytesIO(pickle.dumps([1, "a"]))) == [1, "a"]


PLAIN = {
    "dict": {"a": 1, 2: [3.5, None, True], (1, 2): "tuple key"},
    "tuple": (1, 2.0, "three", b"four", None),
    "ordered": collections.OrderedDict([("z", 1), ("a", 2)]),
    "set": {1, 2, 3},
    "frozenset": frozenset(["x"]),
    "complex": 1 + 2j,
    "slice": slice(1, 10, 2),
    "big": 2**100,
    "unicode": "émotion",
    "bytearray": bytearray(b"xy"),
}
DTYPES = ["float32", "float64", "float16", "int64", "int32", "uint8", "bool",
          "complex64", "<U5", "S3", "datetime64[s]"]


def _arrays():
    rng = np.random.default_rng(0)
    out = {d: (rng.standard_normal((4, 3)) * 10).astype(d) for d in DTYPES}
    out["fortran"] = np.asfortranarray(rng.standard_normal((3, 5)))
    out["empty"] = np.zeros((0, 7), dtype=np.float32)
    out["structured"] = np.array([(1, 2.5)], dtype=[("a", "i4"), ("b", "f8")])
    out["scalars"] = [np.float32(1.5), np.int64(-3), np.bool_(True)]
    return out


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_plain_data_round_trips(tmp_path, protocol):
    arrays = _arrays()
    path = tmp_path / "plain.pkl"
    path.write_bytes(pickle.dumps((PLAIN, arrays), protocol=protocol))
    plain, loaded = safe_load(path)
    assert plain == PLAIN
    assert type(plain["ordered"]) is collections.OrderedDict
    assert list(plain["ordered"]) == ["z", "a"]
    for key, array in arrays.items():
        if key == "scalars":
            assert loaded[key] == array
            assert [type(v) for v in loaded[key]] == [type(v) for v in array]
            continue
        assert loaded[key].dtype == array.dtype, key
        np.testing.assert_array_equal(loaded[key], array)


def test_numpy_1_pickles_load(tmp_path):
    """Bundles written by numpy 1 name ``numpy.core.multiarray``."""
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    data = pickle.dumps({"a": array, "s": np.float64(2.5)}, protocol=2)
    old = data.replace(b"numpy._core.", b"numpy.core.")
    assert b"numpy.core.multiarray" in old
    loaded = safe_load(io.BytesIO(old))
    np.testing.assert_array_equal(loaded["a"], array)
    assert loaded["s"] == 2.5


def test_corrupt_and_missing_files(tmp_path):
    path = tmp_path / "truncated.pkl"
    path.write_bytes(pickle.dumps({"a": list(range(100))})[:-20])
    with pytest.raises(DataError, match=r"truncated.pkl: not a readable "
                       r"pickle") as info:
        safe_load(path)
    assert "\n" not in str(info.value)
    (tmp_path / "text.pkl").write_text("hello, not a pickle")
    with pytest.raises(DataError, match="not a readable pickle"):
        safe_load(tmp_path / "text.pkl")
    with pytest.raises(DataError, match="missing.pkl: no such file"):
        safe_load(tmp_path / "missing.pkl")
    with pytest.raises(DataError, match="expected a pickle file"):
        safe_load(tmp_path)


@pytest.mark.skipif(not IEMOCAP_PKL.exists(), reason="shared IEMOCAP data "
                    "not present")
def test_real_iemocap_metadata_loads():
    meta = safe_load(IEMOCAP_PKL)
    assert isinstance(meta, list) and len(meta) == 6
    speakers, labels, sentences, train, test, valid = meta
    assert len(speakers) == len(labels) == len(sentences) == 151
    assert (len(train), len(test), len(valid)) == (108, 31, 12)
    with open(IEMOCAP_PKL, "rb") as f:
        assert meta == pickle.load(f, encoding="latin1")
