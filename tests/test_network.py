"""The textbook network against references written independently of it: Nielsen's
per-example backprop, torch.optim.SGD, and network2.py's update written out."""
import numpy as np
import pytest
import torch

from experiments.tools.baselines import per_example_epoch
from scratch import SGD, Network, one_hot
from scratch.train import minibatches, train
from torch_ref import TwinNet


def rel(a, b) -> float:
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(np.asarray(b)))


@pytest.fixture
def data():
    rng = np.random.default_rng(5)
    x = rng.random((60, 784))
    labels = rng.integers(0, 10, 60)
    return x, labels


def test_default_network_has_13002_parameters():
    net = Network.create([784, 16, 16, 10])
    assert net.num_params() == 784 * 16 + 16 + 16 * 16 + 16 + 16 * 10 + 10 == 13_002
    assert [w.shape for w in net.weights] == [(16, 784), (16, 16), (10, 16)]  # (out, in) like nn.Linear


def test_vectorised_backprop_is_nielsens_per_example_backprop(data):
    """An epoch of mini-batch SGD equals Nielsen's network.py loop, which backpropagates one
    example at a time as column vectors and sums the gradients (sigmoid units, quadratic loss)."""
    x, labels = data
    net = Network.create([784, 16, 16, 10], "sigmoid", "mse", "normal", np.random.default_rng(0))
    weights, biases = [w.copy() for w in net.weights], [b.reshape(-1, 1).copy() for b in net.biases]
    order = np.random.default_rng(1).permutation(len(x))
    per_example_epoch(weights, biases, x, one_hot(labels), 10, 3.0, order)
    for _ in train(net, x, labels, [[order[k:k + 10] for k in range(0, len(x), 10)]], lr=3.0):
        pass
    for ours, theirs in zip(net.weights + net.biases, weights + [b.ravel() for b in biases], strict=True):
        assert rel(ours, theirs) <= 1e-12
    assert rel(net.weights[0], Network.create([784, 16, 16, 10], "sigmoid", "mse", "normal",
                                              np.random.default_rng(0)).weights[0]) > 1e-3  # it did learn


def test_l2_step_is_network2s_update(data):
    """With l2 = lambda, one step is network2.py's W <- (1 - lr lambda/n) W - lr dC_0/dW, and the
    biases take the plain step. (dC_0/dW is backprop's, tested on its own against torch and finite
    differences: this tests the L2 update.)"""
    x, labels = data
    net = Network.create([784, 16, 16, 10], "relu", "ce", "he", np.random.default_rng(2))
    y = one_hot(labels[:10])
    nabla_w, nabla_b = net.backprop(x[:10], y)
    lr, l2, n = 0.5, 5.0, 60
    expected_w = [(1 - lr * l2 / n) * w - lr * nw for w, nw in zip(net.weights, nabla_w, strict=True)]
    expected_b = [b - lr * nb for b, nb in zip(net.biases, nabla_b, strict=True)]
    SGD(net, lr, l2, n).step(x[:10], y)
    for ours, theirs in zip(net.weights + net.biases, expected_w + expected_b, strict=True):
        assert rel(ours, theirs) <= 1e-14


@pytest.mark.parametrize("activation,loss", [("sigmoid", "mse"), ("relu", "ce"), ("sigmoid", "bce")])
def test_sgd_with_l2_momentum_and_decay_is_torch_optim_sgd(data, activation, loss):
    """Three epochs of scratch.train with l2, momentum and lr_decay end where torch.optim.SGD
    (weight_decay = lambda/n on the weights only, momentum) with ExponentialLR ends, on the
    same mini-batches, with losses computed by torch's own functions."""
    from torch_ref.losses import LOSSES
    x, labels = data
    net = Network.create([784, 16, 16, 10], activation, loss, "lecun", np.random.default_rng(3))
    model = TwinNet.from_params(net.weights, net.biases, activation, loss)
    lr, l2, mu, gamma = 0.3, 4.0, 0.8, 0.7
    batches = list(minibatches(len(x), 7, 3, np.random.default_rng(4)))
    for _ in train(net, x, labels, batches, lr, l2, mu, gamma):
        pass
    weights, biases = model.weights_and_biases()
    optimizer = torch.optim.SGD([{"params": weights, "weight_decay": l2 / len(x)},
                                 {"params": biases, "weight_decay": 0.0}], lr=lr, momentum=mu)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma)
    xt, yt = torch.from_numpy(x), torch.from_numpy(one_hot(labels))
    for epoch in batches:
        for batch in epoch:
            index = torch.from_numpy(batch)
            optimizer.zero_grad()
            LOSSES[loss](model(xt[index]), yt[index]).backward()
            optimizer.step()
        scheduler.step()
    theirs_w, theirs_b = model.numpy_params()
    for ours, theirs in zip(net.weights + net.biases, theirs_w + theirs_b, strict=True):
        assert rel(ours, theirs) <= 1e-12
    start = Network.create([784, 16, 16, 10], activation, loss, "lecun", np.random.default_rng(3))
    assert rel(net.weights[1], start.weights[1]) > 1e-2  # the steps moved the weights


def test_minibatches_visit_every_example_once_an_epoch():
    epochs = list(minibatches(23, 5, 3, np.random.default_rng(0)))
    assert len(epochs) == 3
    for batches in epochs:
        assert [len(b) for b in batches] == [5, 5, 5, 5, 3]
        assert sorted(np.concatenate(batches)) == list(range(23))
    assert not np.array_equal(np.concatenate(epochs[0]), np.concatenate(epochs[1]))  # a new order each epoch
