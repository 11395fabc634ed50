"""The twins on the sample data, handed the same initial weights and mini-batches, follow the
same trajectory in float64."""
import os

import numpy as np
import pytest
import torch

import scratch
import torch_ref
from experiments.execution.training import seed_streams
from scratch import Network, minibatches, one_hot
from tests.conftest import needs_compiler
from torch_ref import TwinNet


def rel(a, b) -> float:
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(np.asarray(b)))


def test_per_step_losses_and_final_parameters_agree(sample):
    x, labels = sample.arrays("float64")["train"]
    y = one_hot(labels)
    net = Network.create([784, 16, 16, 10], "sigmoid", "mse", "normal", seed_streams(0)[0])
    twin = TwinNet.from_params(net.weights, net.biases, "sigmoid", "mse")
    optimizer = torch.optim.SGD(twin.parameters(), lr=3.0)
    (batches,) = minibatches(len(x), 10, 1, np.random.default_rng(7))
    scratch_losses, torch_losses = [], []
    for batch in batches:
        xb, yb = x[batch], y[batch]
        scratch_losses.append(float(net.loss.fn(net.logits(xb), yb)))
        net.sgd_step(xb, yb, 3.0)
        optimizer.zero_grad()
        loss = torch_ref.LOSSES["mse"](twin(torch.from_numpy(xb)), torch.from_numpy(yb))
        torch_losses.append(loss.item())
        loss.backward()
        optimizer.step()
    assert len(scratch_losses) == 400
    assert np.max(np.abs(np.array(scratch_losses) - torch_losses) / np.array(torch_losses)) <= 1e-9
    weights, biases = twin.numpy_params()
    for ours, theirs in zip(net.weights + net.biases, weights + biases, strict=True):
        assert rel(ours, theirs) <= 1e-9
    start = Network.create([784, 16, 16, 10], "sigmoid", "mse", "normal", seed_streams(0)[0])
    assert rel(net.weights[0], start.weights[0]) > 1e-2  # it did learn


CASES = [("sigmoid", "bce", 0.5, 0.0, 0.0, 1.0), ("sigmoid", "ce", 0.5, 2.0, 0.5, 0.8),
         ("relu", "mse", 0.5, 0.0, 0.0, 1.0), ("relu", "bce", 0.1, 5.0, 0.0, 0.9), ("relu", "ce", 0.05, 1.0, 0.9, 0.7)]


@pytest.mark.parametrize("activation,loss,lr,l2,momentum,lr_decay", CASES)
def test_train_functions_agree(sample, activation, loss, lr, l2, momentum, lr_decay):
    """scratch.train and torch_ref.train, from one init and on one sequence of mini-batches, end
    on the same weights after two epochs, also with L2, momentum and a decaying rate.

    Learning rates are kept out of the chaotic regime (bce or ce at lr 3, relu-mse at lr 1),
    where the rounding differences of 1e-16 between the twins double every few dozen steps
    and reach order one within an epoch, as in any chaotic system."""
    parts = sample.split(500).arrays("float64")
    (x, labels), (xt, lt) = parts["train"], parts["test"]
    net = Network.create([784, 16, 16, 10], activation, loss, scratch.default_init(activation), seed_streams(3)[0])
    twin = TwinNet.from_params(net.weights, net.biases, activation, loss)
    batches = list(minibatches(len(x), 10, 2, seed_streams(3)[1]))
    knobs = {"l2": l2, "momentum": momentum, "lr_decay": lr_decay}
    for _ in scratch.train(net, x, labels, batches, lr, **knobs):
        pass
    for _ in torch_ref.train(twin, x, labels, batches, lr, **knobs):
        pass
    weights, biases = twin.numpy_params()
    for ours, theirs in zip(net.weights + net.biases, weights + biases, strict=True):
        assert rel(ours, theirs) <= 1e-9, (activation, loss)
    s_loss, s_acc = scratch.evaluate(net, xt, lt)
    t_loss, t_acc = torch_ref.evaluate(twin, xt, lt)
    assert abs(s_loss - t_loss) <= 1e-9 * t_loss and s_acc == t_acc
    assert s_acc > 0.6  # two epochs on 3,500 digits already beat chance by far


@needs_compiler
def test_compiled_twin_trains_as_the_eager_one(sample):
    """torch_ref.train with each step put through torch.compile (torch.func.grad and the update
    in one graph) ends on the eager twin's weights, with L2, momentum and a decaying rate, also
    through a last, smaller mini-batch of each epoch (3,500 = 116 x 30 + 20)."""
    x, labels = sample.split(500).arrays("float64")["train"]
    for activation, loss, lr, l2, momentum, lr_decay in [("relu", "ce", 0.05, 2.0, 0.5, 0.8)]:
        net = Network.create([784, 16, 16, 10], activation, loss, scratch.default_init(activation), seed_streams(3)[0])
        eager, compiled = (TwinNet.from_params(net.weights, net.biases, activation, loss) for _ in range(2))
        batches = list(minibatches(len(x), 30, 2, seed_streams(3)[1]))
        knobs = {"l2": l2, "momentum": momentum, "lr_decay": lr_decay}
        for _ in torch_ref.train(eager, x, labels, batches, lr, **knobs):
            pass
        for _ in torch_ref.train(compiled, x, labels, batches, lr, compiled=True, **knobs):
            pass
        for ours, theirs, start in zip(sum(compiled.numpy_params(), []), sum(eager.numpy_params(), []),
                                       net.weights + net.biases, strict=True):
            assert rel(ours, theirs) <= 1e-9, (activation, loss)
            assert np.linalg.norm(ours - start) > 1e-3 * np.linalg.norm(ours)  # every parameter moved


def test_compiled_code_is_kept_apart_per_instruction_set(tmp_path, monkeypatch):
    """Inductor's graph cache does not key on the vector instruction set: code generated where
    torch runs one (AVX-512) and read back where it runs another (ATEN_CPU_CAPABILITY=avx2, as
    docs/reproducibility.md has users set it, or another CPU sharing the folder) trained a stack
    to NaN. The compiled step keeps a cache folder per kernel set, siblings in the folder the
    user chose, whichever kernel set's process chose first."""
    from torch_ref import compiled
    monkeypatch.setenv(compiled.CACHE_DIR, str(tmp_path))
    folders = []
    for capability in ("AVX512", "AVX2", "AVX512"):
        monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda c=capability: c)
        folders.append(compiled.kernels_cache())
        assert os.environ[compiled.CACHE_DIR] == str(folders[-1])
    assert [f.parent for f in folders] == [tmp_path] * 3
    assert folders[0] != folders[1] and folders[0] == folders[2]
    assert folders[0].name.startswith("kernels-avx512-") and folders[1].name.startswith("kernels-avx2-")


def test_a_step_is_compiled_into_its_kernel_sets_folder(tmp_path, monkeypatch):
    """compile_step sets the folder before torch.compile, which inductor reads at each compile
    (a compile into a new folder takes ~20 s, so torch.compile is stood in for here; the docs/errors.md
    row says how to check the numbers)."""
    from torch_ref import compiled
    monkeypatch.setenv(compiled.CACHE_DIR, str(tmp_path))
    seen = []
    monkeypatch.setattr(torch, "compile", lambda step, **kwargs: seen.append(os.environ[compiled.CACHE_DIR]) or step)
    compiled.compile_step(lambda w, x: w @ x)
    assert seen == [str(tmp_path / compiled.kernel_set())]
