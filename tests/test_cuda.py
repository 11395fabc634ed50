"""The twin and the batched torch engine, eager and compiled, on CUDA give the CPU's eager numbers
(skipped without a GPU)."""
import pytest
import torch

from experiments.cli import compiler_found
from experiments.config import RunConfig
from experiments.execute import execute, execute_stack

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
METRICS = ["train_loss", "train_acc", "test_loss", "test_acc"]


def close(a: list[dict], b: list[dict]) -> bool:
    return all(abs(x[m] - y[m]) <= 1e-9 * max(abs(y[m]), 1e-12) for x, y in zip(a, b) for m in METRICS)


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_twin_on_cuda_equals_cpu(sample, compiled):
    if compiled and not compiler_found():
        pytest.skip("torch.compile needs a C++ compiler")
    config = RunConfig(impl="torch", device="cpu", activation="relu", loss="ce", lr=0.1, epochs=2)
    cpu_row, cpu_rows, _ = execute(config, sample)
    cuda_row, cuda_rows, _ = execute(RunConfig(**{**config.__dict__, "device": "cuda"}), sample, compiled=compiled)
    assert cuda_row["device"] == "cuda" and cuda_row["run_id"] == cpu_row["run_id"]
    assert close(cuda_rows, cpu_rows)


@pytest.mark.parametrize("compiled", [False, True], ids=["batched", "compiled"])
def test_batched_torch_on_cuda_equals_single_cpu_runs(sample, compiled):
    if compiled and not compiler_found():
        pytest.skip("torch.compile needs a C++ compiler")
    configs = [RunConfig(impl="torch", device="cuda", activation=a, loss=c, lr=lr, seed=1, epochs=2)
               for a, c, lr in (("relu", "ce", 0.1), ("sigmoid", "bce", 0.3), ("sigmoid", "mse", 1.0))]
    for config, (row, rows, _) in zip(configs, execute_stack(configs, sample, compiled=compiled)):
        _, cpu_rows, _ = execute(RunConfig(**{**config.__dict__, "device": "cpu"}), sample)
        assert row["device"] == "cuda" and close(rows, cpu_rows)
