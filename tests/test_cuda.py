"""The CUDA paths: DiffGATConv, DiffRGCN and the model on a GPU against the
same modules on the CPU, the CSR layout without host syncs, and `dsgdn
train` / `evaluate` / `bench` with ``--device cuda``. Every test is marked
``gpu`` and skips where torch sees no CUDA device."""

import copy
import json

import pytest
import torch
from torch_geometric.data import Batch
from torch_geometric.loader import DataLoader
from torch_geometric.utils import scatter
from typer.testing import CliRunner

from dsgdn_pyg.cli import app
from dsgdn_pyg.data import INTER, INTRA, NODE_TYPE
from dsgdn_pyg.models import AMBDSGDN, ModelConfig, amb_dsgdn_loss
from dsgdn_pyg.nn import DiffGATConv, DiffRGCN
from dsgdn_pyg.training import run_dir as files
from dsgdn_pyg.training.trainer import to_device

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(),
                       reason="torch sees no CUDA device"),
]
runner = CliRunner()
CUDA = torch.device("cuda")
TINY = ["--synthetic-dialogues", "12", "--hidden", "32", "--num-heads", "2",
        "--batch-size", "4", "--warm-up", "1"]


def _on_both(module, *inputs):
    """The module and its inputs on the CPU and, copied, on the GPU."""
    gpu = copy.deepcopy(module).to(CUDA)
    return (module, inputs), (gpu, tuple(
        t.to(CUDA) if isinstance(t, torch.Tensor) else t for t in inputs))


def _forward_backward(module, inputs):
    x = inputs[0].detach().clone().requires_grad_(True)
    out = module(x, *inputs[1:])
    out.square().sum().backward()
    return out, x.grad, [p.grad for p in module.parameters()]


@pytest.mark.parametrize("layout", ["csr", "coo"])
@pytest.mark.parametrize("typed", [True, False])
@pytest.mark.parametrize("loops", [True, False])
def test_diff_gat_conv_on_cuda_equals_cpu(layout, typed, loops):
    torch.manual_seed(0)
    edge_index = torch.randint(0, 30, (2, 200))
    edge_type = torch.randint(0, 6, (200, )) if typed else None
    conv = DiffGATConv(12, 8, heads=3, dropout=0.0, add_self_loops=loops,
                       layout=layout)
    x = torch.randn(30, 12)
    (cpu, cpu_in), (gpu, gpu_in) = _on_both(conv, x, edge_index, edge_type)
    out, x_grad, p_grads = _forward_backward(cpu, cpu_in)
    out_g, x_grad_g, p_grads_g = _forward_backward(gpu, gpu_in)
    torch.testing.assert_close(out_g.cpu(), out, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(x_grad_g.cpu(), x_grad, atol=1e-4, rtol=1e-4)
    for g, c in zip(p_grads_g, p_grads):
        if c is None:
            assert g is None
        else:
            torch.testing.assert_close(g.cpu(), c, atol=1e-4, rtol=1e-4)


def test_attention_rows_sum_to_one_minus_lambda_on_cuda():
    torch.manual_seed(1)
    conv = DiffGATConv(8, 6, heads=2).to(CUDA)
    edge_index = torch.randint(0, 20, (2, 80), device=CUDA)
    _, (index, alpha) = conv(torch.randn(20, 8, device=CUDA), edge_index,
                             return_attention_weights=True)
    lam = conv.differential_lambda().detach().view(1, -1)
    one = torch.ones(1, device=CUDA)
    # The added self-loops make every node a target.
    for weights, total in ((alpha, 1 - lam), (conv.alpha_pos, one),
                           (conv.alpha_neg, one)):
        sums = scatter(weights.detach(), index[1], dim=0, dim_size=20,
                       reduce="sum")
        torch.testing.assert_close(sums, total.expand(20, 2), atol=1e-5,
                                   rtol=0)


def test_dialogue_block_on_cuda_equals_cpu(random_dialogues):
    torch.manual_seed(2)
    batch = Batch.from_data_list(random_dialogues(6, channels=16, seed=3))
    x = batch[NODE_TYPE].x
    block = DiffRGCN(16, heads=2, dropout=0.0).eval()
    for key in (INTER, INTRA):
        edge_index, edge_type = batch[key].edge_index, batch[key].edge_type
        (cpu, cpu_in), (gpu, gpu_in) = _on_both(block, x, edge_index,
                                                edge_type)
        torch.testing.assert_close(gpu(*gpu_in).cpu(), cpu(*cpu_in),
                                   atol=1e-4, rtol=1e-4)


def test_csr_path_reads_nothing_back_to_the_host(random_dialogues):
    # Sorting the edges and a forward and backward of the block, with no
    # host-device sync (the edge-type range check runs only in debug mode).
    batch = Batch.from_data_list(random_dialogues(4, channels=16, seed=4))
    x = batch[NODE_TYPE].x.to(CUDA).requires_grad_(True)
    edge_index = batch[INTER].edge_index.to(CUDA)
    edge_type = batch[INTER].edge_type.to(CUDA)
    block = DiffRGCN(16, heads=2, dropout=0.1, layout="csr").to(CUDA)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        out = block(x, edge_index, edge_type)
        out.sum().backward()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert torch.isfinite(out).all().item()


def test_model_on_cuda_equals_cpu_and_trains(multimodal_dialogue):
    dims = {"text": 12, "audio": 10, "visual": 6}
    graphs = [multimodal_dialogue(n, k, dims)
              for k, n in enumerate((3, 9, 14))]
    torch.manual_seed(5)
    model = AMBDSGDN(ModelConfig(input_dims=dims, num_classes=4,
                                 num_speakers=2, hidden=16, num_heads=2,
                                 graph_heads=2)).eval()
    batch = next(iter(DataLoader(graphs, batch_size=3)))
    gpu = copy.deepcopy(model).to(CUDA)
    gpu_batch = to_device(batch.clone(), CUDA)
    with torch.no_grad():
        torch.testing.assert_close(gpu(gpu_batch).log_probs.cpu(),
                                   model(batch).log_probs, atol=1e-4,
                                   rtol=1e-4)
    gpu.train()
    out = gpu(gpu_batch, balance=True)
    loss = amb_dsgdn_loss(out, gpu_batch[NODE_TYPE].y)
    loss.backward()
    assert torch.isfinite(loss).item()
    assert all(p.grad is None or torch.isfinite(p.grad).all().item()
               for p in gpu.parameters())


def test_train_evaluate_and_resume_with_device_cuda(tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", "--epochs", "2", "--device",
                                 "cuda", "--out", str(out), *TINY])
    assert result.exit_code == 0, result.output
    assert "device: cuda" in result.output
    config = json.loads((out / files.CONFIG).read_text())
    assert config["train"]["device"].startswith("cuda")
    report = json.loads((out / files.REPORT_JSON).read_text())
    evaluated = runner.invoke(app, ["evaluate", str(out), "--device",
                                    "cuda"])
    assert evaluated.exit_code == 0, evaluated.output
    assert f"{100 * report['test']['weighted_f1']:.2f}" in evaluated.output

    # A complete run resumed on the GPU is read back, not retrained.
    resumed = runner.invoke(app, ["train", "--resume", str(out), "--device",
                                  "cuda"])
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((out / files.REPORT_JSON).read_text()) == report


def test_bench_on_cuda(tmp_path):
    out = tmp_path / "res"
    result = runner.invoke(app, [
        "bench", "--device", "cuda", "--lengths", "6,64", "--windows", "2",
        "--repeats", "2", "--warmup", "1", "--channels", "16", "--no-e2e",
        "--no-huge", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "dense / sparse" in result.output
    data = json.loads((out / "results.json").read_text())
    assert data["environment"]["device"].startswith("cuda")
    assert data["environment"]["gpu"]
    lengths = [w["length"] for w in data["workloads"]
               if w["kind"] == "sweep"]
    assert lengths == [6, 64], data["workloads"]
