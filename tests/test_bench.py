"""``dsgdn bench`` and its library on micro configurations: the JSON it
writes, out-of-memory handling, the memory and timing helpers, the key
ratios and the CLI."""

import json
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from dsgdn_pyg.bench import (BenchConfig, Timer, Workload,
                             batch_size_for_length, epoch_batches,
                             format_table, iemocap_train_lengths,
                             is_out_of_memory, key_ratios, make_graph_batch,
                             quick_config, run_benchmark, run_workload)
from dsgdn_pyg.bench import suite
from dsgdn_pyg.cli import app
from dsgdn_pyg.nn import DenseDiffRGCN

MICRO = dict(lengths=(6, 20), windows=(2, ), channels=16, repeats=1,
             warmup=0, huge_length=None, e2e=False, iemocap_batches=1)
MEASUREMENT_KEYS = {"status", "median_ms", "min_ms", "times_ms", "peak_mb",
                    "process_peak_mb", "utterances_per_s", "note"}


@pytest.fixture
def no_default_iemocap(tmp_path, monkeypatch):
    """The default IEMOCAP metadata path made absent, as on a fresh clone
    without ../shared."""
    absent = tmp_path / "absent.pkl"
    monkeypatch.setattr(suite, "default_iemocap_path", lambda: absent)
    return absent


def test_micro_benchmark_result_has_every_measurement(no_default_iemocap):
    result = run_benchmark(BenchConfig(**MICRO)).to_dict()
    assert set(result) == {"environment", "config", "workloads", "e2e",
                           "skipped", "ratios"}
    env = result["environment"]
    for key in ("cpu_model", "cpu_cores", "torch", "torch_geometric",
                "torch_scatter", "gpu", "device"):
        assert key in env
    assert env["device"] == "cpu" or env["gpu"]
    assert result["skipped"] and "absent.pkl" in result["skipped"][0]
    assert [w["length"] for w in result["workloads"]] == [6, 20]
    for w in result["workloads"]:
        assert w["batch_size"] == 16 and w["utterances"] == 16 * w["length"]
        assert w["check"]["max_abs_diff"] < 1e-4
        assert set(w["results"]) == {"sparse", "dense", "gat"}
        for modes in w["results"].values():
            assert set(modes) == {"forward", "forward_backward"}
            for m in modes.values():
                assert set(m) == MEASUREMENT_KEYS
                assert m["status"] == "ok"
                assert m["median_ms"] > 0 and len(m["times_ms"]) == 1
                assert m["utterances_per_s"] == pytest.approx(
                    w["utterances"] / m["median_ms"] * 1e3)
                assert m["peak_mb"] >= 0
    json.dumps(result)  # serialisable as it is
    assert "dense / sparse" in format_table(result)


def test_iemocap_case_uses_the_training_split(iemocap_dir):
    path = iemocap_dir / "iemocap.pkl"
    lengths = iemocap_train_lengths(path)
    assert len(lengths) == 108 and sum(lengths) == 5163
    assert min(lengths) == 8 and max(lengths) == 94
    config = BenchConfig(lengths=(4, ), windows=(1, ), iemocap=str(path),
                         huge_length=None, e2e=False)
    iemocap = [w for w in suite.plan(config) if w.kind == "iemocap"]
    assert len(iemocap) == 1 and iemocap[0].window == 20
    assert sorted(sum(iemocap[0].batches, [])) == sorted(lengths)
    assert [len(b) for b in iemocap[0].batches] == [16] * 6 + [12]
    assert iemocap[0].padded_utterances > iemocap[0].utterances


def test_dense_out_of_memory_is_recorded_not_raised(monkeypatch):
    def out_of_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to "
                                     "allocate 40.00 GiB")

    monkeypatch.setattr(DenseDiffRGCN, "forward", out_of_memory)
    config = BenchConfig(**MICRO)
    record = run_workload(Workload("sweep", 2, [[10] * 3], length=10),
                          config, torch.device("cpu"))
    assert record["check"]["status"] == "ok"
    assert "max_abs_diff" not in record["check"]
    for mode in ("forward", "forward_backward"):
        assert record["results"]["dense"][mode]["status"] == "oom"
        assert record["results"]["dense"][mode]["median_ms"] is None
        assert record["results"]["sparse"][mode]["status"] == "ok"


def test_out_of_memory_during_timing_is_recorded():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] "
                               "DefaultCPUAllocator: not enough memory")

    m = Timer(torch.device("cpu")).measure(flaky, repeats=3, warmup=1,
                                           utterances=10)
    assert m.status == "oom" and "not enough memory" in m.note
    assert m.median_ms is None and m.times_ms == []

    def broken():
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        Timer(torch.device("cpu")).measure(broken, 1, 0, 1)


@pytest.mark.parametrize("exc,expected", [
    (torch.OutOfMemoryError("CUDA out of memory"), True),
    (RuntimeError("CUDA out of memory. Tried to allocate"), True),
    (RuntimeError("DefaultCPUAllocator: can't allocate memory"), True),
    (MemoryError(), True),
    (RuntimeError("size mismatch"), False),
    (ValueError("out of memory"), False),
])
def test_is_out_of_memory(exc, expected):
    assert is_out_of_memory(exc) is expected


@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="resident-set peak reset is Linux-only")
def test_cpu_peak_memory_of_one_call():
    timer = Timer(torch.device("cpu"))
    assert timer.memory.resettable

    def allocate():
        x = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched
        return float(x[-1])

    peak, process_peak = timer.peak_once(allocate)
    assert 56 < peak < 128
    assert process_peak >= peak
    # A call allocating nothing after it: the peak was reset.
    small, _ = timer.peak_once(lambda: None)
    assert small < 16


FRAGMENT_SCRIPT = """
import ctypes, torch
from dsgdn_pyg.bench.measure import Timer
timer = Timer(torch.device("cpu"))
assert timer.memory.exact
ctypes.CDLL("libc.so.6").mallopt(-3, 32 * 2**20)

def fragment():
    small = [torch.ones(2**20) for _ in range(20)]
    del small[1::2]
    large = [torch.ones(2**21) for _ in range(5)]
    return float(small[-1][0] + large[-1][0])

print(timer.peak_once(fragment)[0])
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="glibc's mallopt is Linux-only")
def test_cpu_peak_counts_live_tensors_not_heap_holes():
    # A warmed-up process serves tensors under 32 MiB from its heap; freeing
    # every other 4 MiB tensor leaves holes no 8 MiB tensor fits, so the
    # heap's high-water mark (about 120 MiB here) overstates the live peak
    # (80 MiB: twenty tensors, then ten plus five twice as large). A fresh
    # process, as each benchmark case on CPU: free memory that earlier
    # tests left mapped (a PDF figure's, say) is reused unseen.
    import subprocess
    out = subprocess.run([sys.executable, "-c", FRAGMENT_SCRIPT], check=True,
                         capture_output=True, text=True).stdout
    assert 76 < float(out) < 96


HOLD_SCRIPT = """
import ctypes, torch
from dsgdn_pyg.bench.measure import ProcessMemory
libc, memory = ctypes.CDLL("libc.so.6"), ProcessMemory()

def resident_after_free():
    libc.malloc_trim(0)
    base = memory.current_mb()
    tensors = [torch.ones(2**18) for _ in range(20)]  # 1 MiB each
    keep = tensors.pop()
    del tensors
    grown = memory.current_mb() - base
    del keep
    return grown

memory.hold()
memory.stop()  # a measured call's end keeps the hold
held = resident_after_free()
memory.release()
libc.mallopt(-3, 32 * 2**20)
print(held, resident_after_free())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="glibc's mallopt is Linux-only")
def test_cpu_hold_keeps_freed_tensors_out_of_the_heap():
    # Tensors under 32 MiB come from the heap, and the pages of those freed
    # below a live one stay resident: a later measured call would reuse
    # them unseen. Held from the start of a process, every tensor over
    # 64 KiB is its own mapping and leaves nothing behind. (A fresh
    # process: free blocks left by earlier tests would be reused.)
    import subprocess
    out = subprocess.run([sys.executable, "-c", HOLD_SCRIPT], check=True,
                         capture_output=True, text=True).stdout
    held, unheld = map(float, out.split())
    assert held < 6 and unheld > 12


def test_given_peaks_are_not_measured_again():
    timer = Timer(torch.device("cpu"))
    calls = {"a": lambda: None, "b": lambda: None}
    peaks = timer.peaks(calls)
    peaks["a"].peak_mb = 123.0

    def no_second_peak(fn):
        raise AssertionError("peak measured twice")

    timer.peak_once = no_second_peak
    out = timer.measure_side_by_side(calls, repeats=2, warmup=1,
                                     utterances=1, peaks=peaks)
    assert out["a"].peak_mb == 123.0 and len(out["b"].times_ms) == 2


def test_batch_sizes_and_epoch_batches():
    assert [batch_size_for_length(L) for L in
            (16, 110, 128, 256, 512, 2048, 4096, 100_000)] == \
        [16, 16, 16, 8, 4, 1, 1, 1]
    with pytest.raises(ValueError, match="positive"):
        batch_size_for_length(0)
    batches = epoch_batches(list(range(1, 36)), 16, seed=3)
    assert [len(b) for b in batches] == [16, 16, 3]
    assert sorted(sum(batches, [])) == list(range(1, 36))
    assert epoch_batches(list(range(1, 36)), 16, 3, limit=1) == batches[:1]


def test_graph_batch_dense_form():
    batch = make_graph_batch([3, 5], window=1, channels=4, seed=0)
    x, adj, mask = batch.dense()
    assert x.shape == (2, 5, 4) and adj.shape == (2, 5, 5)
    assert mask.sum() == 8 and batch.padded_nodes == 10
    # Relation ids 1 (self) and 4/5 (inter) only, inside each dialogue.
    assert set(adj.unique().tolist()) <= {0, 1, 4, 5}
    assert adj[0, 3:].abs().sum() == 0 and adj[0, :, 3:].abs().sum() == 0


def test_key_ratios_against_targets():
    def record(kind, length, window, dense_ms, sparse_ms, batch=16):
        ok = lambda ms: dict(status="ok", median_ms=ms)  # noqa: E731
        return dict(kind=kind, length=length, window=window,
                    batch_size=batch, name=f"L={length}",
                    results=dict(dense=dict(forward_backward=ok(dense_ms)),
                                 sparse=dict(forward_backward=ok(sparse_ms))))

    data = dict(environment=dict(gpu=None), workloads=[
        record("iemocap", None, 20, 30.0, 10.0),
        record("sweep", 110, 20, 9.0, 10.0),
        record("sweep", 2048, 5, 60.0, 10.0, 1),
        dict(kind="sweep", length=4096, window=5, batch_size=1, name="x",
             results=dict(dense=dict(forward_backward=dict(status="oom")),
                          sparse=dict(forward_backward=dict(
                              status="ok", median_ms=5.0)))),
    ], e2e=dict(status="pending", note="needs the model"))
    rows = {r["target"].split(":")[0]: r for r in key_ratios(data)}
    assert rows["IEMOCAP batches of 16, w=20"]["value"] == 3.0
    assert rows["IEMOCAP batches of 16, w=20"]["met"] is True
    assert rows["uniform B=16, L=110, w=20"]["met"] is False
    assert rows["L=2048, w=5"]["value"] == 6.0
    assert rows["L=4096, w=5"]["value"] is None
    assert rows["L=4096, w=5"]["met"] is None
    e2e = rows["end-to-end training epoch"]
    assert e2e["value"] is None and "needs the model" in e2e["note"]


def test_e2e_is_pending_without_the_model(monkeypatch):
    from dsgdn_pyg.bench.e2e import run_e2e

    monkeypatch.setitem(sys.modules, "dsgdn_pyg.models", None)
    record = run_e2e(BenchConfig(**MICRO), torch.device("cpu"))
    assert record["status"] == "pending" and "needs" in record["note"]


@pytest.mark.slow
def test_e2e_epoch_on_a_tiny_model():
    from dsgdn_pyg.bench.e2e import run_e2e

    config = BenchConfig(**dict(MICRO, e2e=True, e2e_dialogues=6))
    record = run_e2e(config, torch.device("cpu"))
    assert record["status"] == "ok" and record["max_abs_diff"] < 1e-3
    assert record["window"] == 20 and record["batch_size"] == 16
    for layer in ("sparse", "dense", "no_graph"):
        assert record["results"][layer]["status"] == "ok"
        assert record["results"][layer]["median_ms"] > 0


@pytest.mark.slow
def test_isolated_case_runs_in_its_own_process():
    config = BenchConfig(**MICRO)
    record = suite.run_workload_isolated(
        Workload("huge", 2, [[40]], ("sparse", ), 40), config,
        torch.device("cpu"))
    assert "error" not in record, record.get("error")
    m = record["results"]["sparse"]["forward_backward"]
    assert m["status"] == "ok" and m["process_peak_mb"] > m["peak_mb"]


def test_quick_config_and_validation():
    quick = quick_config()
    assert quick.quick and quick.windows == (5, ) and quick.huge_length is None
    assert len(quick.lengths) == 3 and quick.repeats == 3
    assert quick_config(repeats=7).repeats == 7
    with pytest.raises(ValueError, match="lengths"):
        BenchConfig(lengths=(0, 4))
    with pytest.raises(ValueError, match="layers"):
        BenchConfig(layers=("dense", ))
    with pytest.raises(ValueError, match="device"):
        suite.resolve_device("tpu")


def test_cli_writes_json_table_and_plot(tmp_path, no_default_iemocap):
    pytest.importorskip("matplotlib")
    out = tmp_path / "res"
    result = CliRunner().invoke(app, [
        "bench", "--lengths", "6,12", "--windows", "2", "--repeats", "1",
        "--warmup", "0", "--channels", "16", "--no-e2e", "--no-huge",
        "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "dense / sparse" in result.output
    # The IEMOCAP case is left out with a note, not silently.
    assert "not run:" in result.output and "absent.pkl" in result.output
    data = json.loads((out / "results.json").read_text())
    assert [w["length"] for w in data["workloads"]] == [6, 12]
    assert data["config"]["channels"] == 16
    assert "L=6 w=2" in (out / "table.txt").read_text()
    assert (out / "plot.png").read_bytes()[:4] == b"\x89PNG"


def test_named_iemocap_file_must_exist(tmp_path):
    """Only the default path may be absent (a fresh clone without
    ../shared); a path the user names must be there."""
    with pytest.raises(ValueError, match="--iemocap: .*missing.pkl is not a "
                       "file"):
        BenchConfig(iemocap=str(tmp_path / "missing.pkl"))
    out = tmp_path / "res"
    result = CliRunner().invoke(app, [
        "bench", "--quick", "--iemocap", str(tmp_path / "missing.pkl"),
        "--out", str(out)])
    assert result.exit_code == 2
    assert result.output.strip().startswith("error: --iemocap:")
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists()


def test_cli_bad_lengths_is_a_one_line_error(tmp_path):
    result = CliRunner().invoke(app, ["bench", "--lengths", "a,b",
                                      "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "--lengths: expected comma-separated integers" in result.output
    assert "Traceback" not in result.output


def test_cases_run_on_a_busy_machine_are_marked():
    from dsgdn_pyg.bench.report import busy, table_rows

    ok = dict(status="ok", median_ms=1.0)
    record = dict(name="L=8 w=2", batch_size=16, utterances=128,
                  load_before=1.2, load_after=3.4,
                  results=dict(sparse=dict(forward=ok, forward_backward=ok)))
    assert busy(record, cores=2) and not busy(record, cores=4)
    assert not busy(dict(load_before=None), cores=2)
    data = dict(environment=dict(cpu_cores=2), workloads=[record])
    _, rows = table_rows(data)
    assert rows[0][0] == "L=8 w=2 *"
    assert "machine was busy" in format_table(data)


# --- the layer suite (``dsgdn bench layers``) -------------------------------

from dsgdn_pyg.bench import layer_report, layer_suite  # noqa: E402
from dsgdn_pyg.bench.output import check_output_folder  # noqa: E402

TINY = dict(random_nodes=300, random_edges=2_000, sampled_nodes=2_000,
            sampled_edges=10_000, batch_size=16, batches=2, repeats=1,
            warmup=0, isolate=False)


@pytest.fixture
def tiny_tolokers(tmp_path):
    """A graph in the heterophilous .npz layout: edges stored once."""
    import numpy as np
    rng = np.random.default_rng(0)
    path = tmp_path / "tolokers.npz"
    edges = np.array([[0, 1], [1, 2], [2, 3], [3, 0], [4, 0]])
    np.savez(path, node_features=rng.normal(size=(5, 3)).astype("float32"),
             node_labels=np.array([0, 1, 0, 1, 1]), edges=edges,
             train_masks=np.ones((10, 5), bool),
             val_masks=np.zeros((10, 5), bool),
             test_masks=np.zeros((10, 5), bool))
    return path


def test_heterophilous_loader_adds_the_reverse_edges(tiny_tolokers):
    from dsgdn_pyg.bench.graphs import load_heterophilous
    data = load_heterophilous(tiny_tolokers)
    assert data.num_edges == 10 and data.is_undirected()
    assert data.train_mask.shape == (5, 10)
    with pytest.raises(ValueError, match="no such file"):
        load_heterophilous(tiny_tolokers.with_name("absent.npz"))


def test_layer_suite_measures_every_layer_and_reports_absent_data(
        tmp_path, tiny_tolokers):
    config = layer_suite.LayerSuiteConfig(
        planetoid_root=str(tmp_path / "no-planetoid"),
        tolokers=str(tiny_tolokers), **TINY)
    result = layer_suite.run_layer_suite(config)
    cases = {c["name"]: c for c in result["cases"]}
    assert list(cases) == list(layer_suite.CASES)
    # Cora's data is absent: reported, not dropped.
    assert cases["cora"]["status"] == "not run"
    assert "Cora is not in" in cases["cora"]["note"]
    for name in ("random-100k", "tolokers", "sampled-1m"):
        case = cases[name]
        assert case["status"] == "ok", case
        assert set(case["results"]) == set(layer_suite.LAYERS)
        for modes in case["results"].values():
            for mode in layer_suite.MODES:
                assert modes[mode]["status"] == "ok"
                assert modes[mode]["median_ms"] > 0
                assert modes[mode]["peak_mb"] is not None
        assert layer_report.ratio(case, "gat") == 1.0
    assert cases["tolokers"]["edges"] == 10  # both directions
    assert cases["random-100k"]["nodes"] == 300
    sampled = cases["sampled-1m"]
    assert sampled["graphs"] == 2 and sampled["full_nodes"] == 2_000
    assert sampled["sampler"] == layer_suite.sampler_name()
    if sampled["sampler"] == "k_hop_subgraph":
        assert "NeighborLoader needs pyg-lib or torch-sparse" in \
            sampled["note"]
    text = layer_report.format_table(result)
    assert "cora" in text and "not run" in text and "DiffGATConv" in text
    ratios = {(r["case"], r["metric"]): r for r in result["ratios"]}
    assert ratios[("cora", "time")]["value"] is None
    assert ratios[("random-100k", "time")]["value"] > 0


def test_layer_suite_case_in_a_fresh_process(tiny_tolokers):
    config = layer_suite.LayerSuiteConfig(
        cases=("tolokers", ), layers=("gat", "diff"),
        tolokers=str(tiny_tolokers), **dict(TINY, isolate=True))
    result = layer_suite.run_layer_suite(config)
    assert result["isolated"]
    (case, ) = result["cases"]
    assert case["status"] == "ok" and set(case["results"]) == {"gat", "diff"}


def test_layer_suite_key_ratios_and_goals():
    def case(name, edges, diff_ms, diff_mb):
        def m(ms, mb):
            return dict(status="ok", median_ms=ms, peak_mb=mb)
        return dict(name=name, status="ok", max_edges=edges, results=dict(
            gat=dict(forward_backward=m(10.0, 100.0)),
            diff=dict(forward_backward=m(diff_ms, diff_mb))))
    result = dict(environment=dict(gpu=None), cases=[
        case("cora", 10_556, 9.0, 90.0),
        case("tolokers", 1_038_000, 6.0, 40.0),
        case("random-small", 1_000, 20.0, 200.0),
        dict(name="sampled-1m", status="error", note="timed out")])
    rows = {(r["case"], r["metric"]): r
            for r in layer_report.key_ratios(result)}
    assert rows[("cora", "time")]["met"] is True
    assert rows[("cora", "time")]["goal"] == 1.0
    assert rows[("cora", "memory")]["goal"] is None
    assert rows[("tolokers", "time")]["met"] is False  # 0.6 > 0.5
    assert rows[("tolokers", "memory")]["met"] is True  # 0.4
    assert rows[("random-small", "time")]["goal"] is None
    assert rows[("sampled-1m", "time")]["value"] is None
    assert "timed out" in rows[("sampled-1m", "time")]["note"]
    result["environment"]["gpu"] = "H200"
    assert all(r["goal"] is None for r in layer_report.key_ratios(result))


def test_layer_suite_config_validation():
    with pytest.raises(ValueError, match="--cases"):
        layer_suite.LayerSuiteConfig(cases=("cora", "imagenet"))
    with pytest.raises(ValueError, match="--layers"):
        layer_suite.LayerSuiteConfig(layers=("diff", ))
    with pytest.raises(ValueError, match="--repeats"):
        layer_suite.LayerSuiteConfig(repeats=0)


def test_output_check_refuses_files_foreign_folders_and_unwritable(
        tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("keep me\n")
    with pytest.raises(ValueError, match="--out .*README.md: is a file; "
                       "expected a directory"):
        check_output_folder(readme)
    with pytest.raises(ValueError, match="is a file, so nothing can be "
                       "created under it"):
        check_output_folder(readme / "sub")
    with pytest.raises(ValueError, match=r"holds files a benchmark does "
                       r"not write \(README.md\)"):
        check_output_folder(tmp_path, overwrite=True)
    with pytest.raises(ValueError, match="/proc/x"):
        check_output_folder(Path("/proc/x"))
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "results.json").write_text("{}")
    (tmp_path / "old" / "plot.png").mkdir()
    with pytest.raises(ValueError, match="plot.png is not a regular file"):
        check_output_folder(tmp_path / "old")
    (tmp_path / "old" / "plot.png").rmdir()
    # Earlier results are replaced only when asked ...
    with pytest.raises(ValueError, match=r"--out .*old: holds an earlier "
                       r"benchmark's results \(results.json\); pass "
                       r"--overwrite to replace them, or another --out"):
        check_output_folder(tmp_path / "old")
    check_output_folder(tmp_path / "old", overwrite=True)
    # ... an atomic write's leftover temporary does not count ...
    (tmp_path / "old" / ".table.txt.0123456789ab.tmp").write_text("")
    check_output_folder(tmp_path / "old", overwrite=True)
    # ... and never beside another tool's files, e.g. an experiment's plot.
    (tmp_path / "old" / "experiment.json").write_text("{}")
    with pytest.raises(ValueError, match="does not write "
                       r"\(experiment.json\)"):
        check_output_folder(tmp_path / "old", overwrite=True)
    check_output_folder(tmp_path / "new" / "deeper")
    check_output_folder(tmp_path / "empty")
    (tmp_path / "empty").mkdir()
    check_output_folder(tmp_path / "empty")
    # The check leaves nothing behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "README.md", "empty", "old"]
    assert readme.read_text() == "keep me\n"


@pytest.mark.parametrize("args, message", [
    (["--out", "{readme}"], "--out {readme}: is a file; expected a "
     "directory"),
    (["--out", "/proc/x"], "--out /proc/x: cannot create files in /proc"),
    (["--cases", "cora,imagenet"], "--cases: expected some of"),
    (["--layers", "diff"], "--layers: expected gat"),
    (["--repeats", "0"], "--repeats: expected >= 1"),
    (["--tolokers", "{tmp}/absent.npz"], "--tolokers: {tmp}/absent.npz is "
     "not an existing file"),
    (["--device", "tpu"], "device: expected auto, cpu or cuda"),
])
def test_layer_suite_bad_input_is_refused_before_any_work(
        tmp_path, monkeypatch, args, message):
    readme = tmp_path / "README.md"
    readme.write_text("keep me\n")

    def no_work(*a, **k):
        raise AssertionError("the suite ran before its input was checked")
    monkeypatch.setattr(layer_suite, "run_layer_suite", no_work)
    args = [a.format(readme=readme, tmp=tmp_path) for a in args]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "res")]
    result = CliRunner().invoke(app, ["bench", "layers"] + args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert message.format(readme=readme, tmp=tmp_path) in lines[0]
    assert "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md"]
    assert readme.read_text() == "keep me\n"


def test_layer_suite_cli_writes_json_table_and_plot(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "res"
    result = CliRunner().invoke(app, [
        "bench", "layers", "--quick", "--cases", "random-100k,tolokers",
        "--layers", "gat,diff", "--repeats", "1", "--warmup", "0",
        "--no-isolate", "--tolokers", str(tmp_path / "absent.npz"),
        "--out", str(out)])
    # A named data file must exist ...
    assert result.exit_code == 2 and not out.exists()
    result = CliRunner().invoke(app, [
        "bench", "layers", "--quick", "--cases", "random-100k",
        "--layers", "gat,diff", "--repeats", "1", "--warmup", "0",
        "--no-isolate", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "DiffGATConv / GATConv forward+backward time" in result.output
    data = json.loads((out / "results.json").read_text())
    assert data["suite"] == "layers"
    assert data["cases"][0]["nodes"] == 10_000
    assert "random-100k" in (out / "table.txt").read_text()
    assert (out / "plot.png").read_bytes()[:4] == b"\x89PNG"
    # An earlier results folder is written again only with --overwrite.
    again = ["bench", "layers", "--quick", "--cases", "random-100k",
             "--layers", "gat,diff", "--repeats", "1", "--warmup", "0",
             "--no-isolate", "--out", str(out)]
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    result = CliRunner().invoke(app, again)
    assert result.exit_code == 2
    assert "holds an earlier benchmark's results" in result.output
    assert "--overwrite" in result.output
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    result = CliRunner().invoke(app, again + ["--overwrite"])
    assert result.exit_code == 0, result.output


def test_datasets_folder_follows_dsgdn_data(tmp_path, monkeypatch):
    # Every default dataset path of the benchmarks and the studies lies
    # under $DSGDN_DATA; unset, under ../shared/data beside the checkout.
    from dsgdn_pyg.bench import config as bench_config, layer_config
    monkeypatch.setenv("DSGDN_DATA", str(tmp_path))
    suite_config = layer_config.LayerSuiteConfig()
    assert bench_config.default_iemocap_path() == \
        tmp_path / "iemocap" / "iemocap.pkl"
    assert suite_config.planetoid_path() == tmp_path / "planetoid"
    assert suite_config.tolokers_path() == \
        tmp_path / "heterophilous" / "tolokers.npz"
    note = layer_suite.case_problem("tolokers", suite_config)
    assert note == f"{tmp_path / 'heterophilous' / 'tolokers.npz'} is absent"
    # An option still wins over the folder.
    given = layer_config.LayerSuiteConfig(tolokers=str(tmp_path / "t.npz"))
    assert given.tolokers_path() == tmp_path / "t.npz"
    monkeypatch.delenv("DSGDN_DATA")
    checkout = Path(bench_config.__file__).resolve().parents[2]
    assert bench_config.dataset_dir("planetoid") == \
        checkout.parent / "shared" / "data" / "planetoid"


def test_cli_replaces_earlier_results_only_with_overwrite(
        tmp_path, no_default_iemocap, monkeypatch):
    out = tmp_path / "res"
    args = ["bench", "--lengths", "6", "--windows", "2", "--repeats", "1",
            "--warmup", "0", "--channels", "8", "--no-e2e", "--no-huge",
            "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (out / "plot.png").write_bytes(b"an earlier run's plot")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert result.output.strip().startswith(f"error: --out {out}: holds an "
                                            f"earlier benchmark's results")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before

    # Replaced, a plot that cannot be drawn again is not left beside the
    # new numbers.
    from dsgdn_pyg.bench import report

    def no_matplotlib(*args, **kwargs):
        raise ImportError("matplotlib is not installed")
    monkeypatch.setattr(report, "plot", no_matplotlib)
    result = CliRunner().invoke(app, args + ["--overwrite"])
    assert result.exit_code == 0, result.output
    assert "the earlier plot.png is removed" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["results.json",
                                                     "table.txt"]


@pytest.mark.parametrize("flags, huge", [
    ([], True), (["--no-huge"], False), (["--quick"], False),
    (["--quick", "--huge"], True), (["--quick", "--no-huge"], False)])
def test_cli_huge_dialogue_follows_the_flags(tmp_path, monkeypatch, flags,
                                             huge):
    import dsgdn_pyg.bench as bench_package
    from dsgdn_pyg.bench.config import HUGE_LENGTH
    seen = []

    class Stop(Exception):
        pass

    def capture(config, progress=None):
        seen.append(config.huge_length)
        raise Stop
    # Where the command imports it from (suite's own name stays as it is,
    # so the lazy export resolves to the real function again afterwards).
    monkeypatch.setattr(bench_package, "run_benchmark", capture)
    result = CliRunner().invoke(app, ["bench", *flags, "--device", "cpu",
                                      "--out", str(tmp_path / "res")])
    assert isinstance(result.exception, Stop), result.output
    assert seen == [HUGE_LENGTH if huge else None]


@pytest.mark.parametrize("before, named", [
    (["--out", "{tmp}/res"], "--out"), (["--quick"], "--quick"),
    (["--no-huge", "--repeats", "2"], "--repeats, --huge")])
def test_block_options_before_layers_are_refused(tmp_path, monkeypatch,
                                                 before, named):
    # Click would drop them, and the suite run with its own defaults.
    def no_work(*args, **kwargs):
        raise AssertionError("the suite ran")
    monkeypatch.setattr(layer_suite, "run_layer_suite", no_work)
    args = [a.format(tmp=tmp_path) for a in before]
    result = CliRunner().invoke(app, ["bench", *args, "layers"])
    assert result.exit_code == 2, result.output
    line, = result.output.strip().splitlines()
    assert line.startswith(f"error: {named}: ")
    assert "given before `layers`" in line and "put them after it" in line
    assert list(tmp_path.iterdir()) == []
