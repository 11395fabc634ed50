"""One epoch of training on the sample data: the twins follow the same trajectory in float64."""
import numpy as np
import pytest
import torch

import scratch
import torch_ref
from experiments.execute import seed_streams
from scratch import Network
from scratch.train import epoch_order, one_hot
from torch_ref import TwinNet


def rel(a, b) -> float:
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(np.asarray(b)))


def test_per_step_losses_and_final_parameters_agree(sample):
    x, labels, _, _ = sample.arrays("float64")
    y = one_hot(labels)
    init_rng, _ = seed_streams(0)
    net = Network.create([784, 16, 16, 10], "sigmoid", "mse", "normal", init_rng)
    twin = TwinNet.from_scratch(net)
    optimizer = torch.optim.SGD(twin.parameters(), lr=3.0)
    order = epoch_order(np.random.default_rng(7), len(x))
    scratch_losses, torch_losses = [], []
    for k in range(0, len(x), 10):
        xb, yb = x[order[k:k + 10]], y[order[k:k + 10]]
        scratch_losses.append(net.cost(xb, yb))
        net.sgd_step(xb, yb, 3.0)
        optimizer.zero_grad()
        loss = torch_ref.LOSSES["mse"](twin(torch.from_numpy(xb)), torch.from_numpy(yb))
        torch_losses.append(loss.item())
        loss.backward()
        optimizer.step()
    assert len(scratch_losses) == 400
    assert np.max(np.abs(np.array(scratch_losses) - torch_losses) / np.array(torch_losses)) <= 1e-9
    weights, biases = twin.numpy_params()
    for ours, theirs in zip(net.weights + net.biases, weights + biases):
        assert rel(ours, theirs) <= 1e-9
    assert rel(net.weights[0], Network.create([784, 16, 16, 10], "sigmoid", "mse", "normal",
                                              seed_streams(0)[0]).weights[0]) > 1e-2  # it did learn


def test_train_functions_agree_for_every_loss(sample):
    """scratch.train and torch_ref.train, from one init and one order, end on the same weights.

    Learning rates are kept out of the chaotic regime (bce or ce at lr 3, relu-mse at lr 1),
    where the rounding differences of 1e-16 between the twins double every few dozen steps
    and reach order one within an epoch, as in any chaotic system.
    """
    x, labels, xt, lt = sample.arrays("float64")
    for activation, loss, lr in [("sigmoid", "bce", 0.5), ("sigmoid", "ce", 0.5), ("relu", "mse", 0.5),
                                 ("relu", "bce", 0.1), ("relu", "ce", 0.1)]:
        init_rng, _ = seed_streams(3)
        net = Network.create([784, 16, 16, 10], activation, loss, scratch.default_init(activation), init_rng)
        twin = TwinNet.from_scratch(net)
        for _ in scratch.train(net, x, labels, 1, 10, lr, seed_streams(3)[1]):
            pass
        for _ in torch_ref.train(twin, x, labels, 1, 10, lr, seed_streams(3)[1]):
            pass
        weights, biases = twin.numpy_params()
        for ours, theirs in zip(net.weights + net.biases, weights + biases):
            assert rel(ours, theirs) <= 1e-9, (activation, loss)
        s_loss, s_acc = scratch.evaluate(net, xt, lt)
        t_loss, t_acc = torch_ref.evaluate(twin, xt, lt)
        assert abs(s_loss - t_loss) <= 1e-9 * t_loss and s_acc == t_acc
        assert s_acc > 0.5  # one epoch on 4,000 digits already beats chance by far


def test_compiled_twin_trains_as_the_eager_one(sample):
    """torch_ref.train with each step put through torch.compile (torch.func.grad and the SGD
    update in one graph) ends on the eager twin's weights, also through a last, smaller
    mini-batch of each epoch (4,000 = 133 x 30 + 10), which compiles a second time."""
    from experiments.cli import compiler_found
    if not compiler_found():
        pytest.skip("torch.compile needs a C++ compiler")
    x, labels, _, _ = sample.arrays("float64")
    for activation, loss, lr in [("sigmoid", "mse", 3.0), ("relu", "ce", 0.1)]:
        net = Network.create([784, 16, 16, 10], activation, loss, scratch.default_init(activation), seed_streams(3)[0])
        eager, compiled = TwinNet.from_scratch(net), TwinNet.from_scratch(net)
        for _ in torch_ref.train(eager, x, labels, 2, 30, lr, seed_streams(3)[1]):
            pass
        for _ in torch_ref.train(compiled, x, labels, 2, 30, lr, seed_streams(3)[1], compiled=True):
            pass
        for ours, theirs, start in zip(sum(compiled.numpy_params(), []), sum(eager.numpy_params(), []),
                                       net.weights + net.biases):
            assert rel(ours, theirs) <= 1e-9, (activation, loss)
            assert np.linalg.norm(ours - start) > 1e-3 * np.linalg.norm(ours)  # every parameter moved
