"""The twin and the batched torch engine, eager and compiled, on CUDA give the CPU's eager numbers
(skipped without a GPU)."""
from dataclasses import replace

import pytest
import torch

from experiments.execution.training import train_unit
from experiments.spec.config import RunConfig
from tests.conftest import needs_compiler

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
METRICS = ["train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc"]
COMPILED = [False, pytest.param(True, marks=needs_compiler)]


def close(a: list[dict], b: list[dict]) -> bool:
    return all(abs(x[m] - y[m]) <= 1e-9 * max(abs(y[m]), 1e-12) for x, y in zip(a, b, strict=True) for m in METRICS)


@pytest.mark.parametrize("compiled", COMPILED, ids=["eager", "compiled"])
def test_twin_on_cuda_equals_cpu(sample, compiled):
    config = RunConfig(impl="torch", device="cpu", activation="relu", loss="ce", lr=0.1, epochs=2, l2=2.0,
                       momentum=0.5, lr_decay=0.8)
    (cpu,) = train_unit([config], sample)
    (cuda,) = train_unit([replace(config, device="cuda")], sample, compiled=compiled)
    assert cuda.run_row["device"] == "cuda" and cuda.run_row["run_id"] == cpu.run_row["run_id"]
    assert close(cuda.epoch_rows, cpu.epoch_rows)


@pytest.mark.parametrize("compiled", COMPILED, ids=["batched", "compiled"])
def test_batched_torch_on_cuda_equals_single_cpu_runs(sample, compiled):
    configs = [RunConfig(impl="torch", device="cuda", activation=a, loss=c, lr=lr, seed=1, epochs=2, l2=l2,
                         momentum=mu, lr_decay=gamma)
               for a, c, lr, l2, mu, gamma in (("relu", "ce", 0.1, 0.0, 0.0, 1.0),
                                               ("sigmoid", "bce", 0.3, 3.0, 0.5, 0.9),
                                               ("sigmoid", "mse", 1.0, 0.0, 0.0, 1.0))]
    for config, result in zip(configs, train_unit(configs, sample, compiled=compiled), strict=True):
        (cpu,) = train_unit([replace(config, device="cpu")], sample)
        assert result.run_row["device"] == "cuda" and close(result.epoch_rows, cpu.epoch_rows)
