"""Each loss against its formula on a hand-computed example, its delta against autograd, and saturated logits."""
import warnings

import numpy as np
import pytest
import torch

from scratch import Network
from scratch.losses import LOSSES
from torch_ref import LOSSES as TORCH_LOSSES

# two examples, three outputs (the formulas do not depend on there being ten)
Z = np.array([[0.0, np.log(3.0), -np.log(3.0)], [np.log(4.0), 0.0, 0.0]])
Y = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
# sigmoid(Z) = [[1/2, 3/4, 1/4], [4/5, 1/2, 1/2]]


def test_mse_by_hand():
    # C = 1/(2m) sum ||a - y||^2 = 1/4 [(1/4 + 9/16 + 1/16) + (16/25 + 1/4 + 1/4)]
    expected = ((0.25 + 9 / 16 + 1 / 16) + (16 / 25 + 0.25 + 0.25)) / 4
    assert LOSSES["mse"].fn(Z, Y) == pytest.approx(expected, rel=1e-15)


def test_bce_by_hand():
    # C = -1/m sum [y ln a + (1 - y) ln(1 - a)]
    ln = np.log
    first = -(ln(1 / 2) + ln(1 / 4) + ln(3 / 4))
    second = -(ln(1 / 5) + ln(1 / 2) + ln(1 / 2))
    assert LOSSES["bce"].fn(Z, Y) == pytest.approx((first + second) / 2, rel=1e-14)


def test_ce_by_hand():
    # softmax of [0, ln 3, -ln 3] = [1, 3, 1/3] / (13/3); of [ln 4, 0, 0] = [4, 1, 1] / 6
    expected = -(np.log(3 / 13) + np.log(1 / 6)) / 2
    assert LOSSES["ce"].fn(Z, Y) == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("name", ["bce", "ce"])
def test_saturated_logits_are_finite_and_exact(name):
    z = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 0.0]])
    y = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any overflow or log(0) warning fails the test
        value = LOSSES[name].fn(z, y)
        with np.errstate(over="ignore"):  # as training computes the outputs: e^1000 overflows on its way to 0
            delta = LOSSES[name].delta(LOSSES[name].output(z), y)
    if name == "bce":
        # softplus(z) - y z per output: row 1 is 0 + 0 + ln 2, row 2 is 1000 + 1000 + ln 2
        expected = (np.log(2) + (1000 + 1000 + np.log(2))) / 2
    else:
        # row 1: ln(1 + e^-1000 + e^-1000) ~ 0; row 2: 2000 + ln(1 + e^-1000 + e^-2000) ~ 2000
        expected = 2000 / 2
    assert np.isfinite(value) and np.all(np.isfinite(delta))
    assert value == pytest.approx(expected, rel=1e-15)
    assert float(TORCH_LOSSES[name](torch.from_numpy(z), torch.from_numpy(y))) == pytest.approx(expected, rel=1e-15)


def test_mse_saturated_is_finite():
    z = np.array([[1000.0, -1000.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert LOSSES["mse"].fn(z, np.array([[0.0, 1.0]])) == pytest.approx(1.0)


@pytest.mark.parametrize("name", ["mse", "bce", "ce"])
def test_delta_is_autograds_dC_dz(name):
    """delta(output(z), y) is dC/dz, as torch's autograd finds it through torch's own losses."""
    rng = np.random.default_rng(0)
    z, y = rng.normal(size=(7, 10)) * 3, np.eye(10)[rng.integers(0, 10, 7)]
    zt = torch.from_numpy(z).requires_grad_()
    TORCH_LOSSES[name](zt, torch.from_numpy(y)).backward()
    loss = LOSSES[name]
    assert np.allclose(loss.delta(loss.output(z), y), zt.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", ["sigmoid", "relu"])
def test_activation_derivatives(name):
    """f'(z) against central differences, and relu'(0) = 0 as torch has it."""
    from scratch.activations import ACTIVATIONS
    f = ACTIVATIONS[name]
    z = np.array([-800.0, -3.0, -0.5, 0.25, 2.0, 40.0])
    h = 1e-6
    with np.errstate(over="ignore"):  # sigmoid(-800): e^800 overflows on its way to the right 0
        numeric = (f.fn(z + h) - f.fn(z - h)) / (2 * h)
        assert np.allclose(f.prime(z), numeric, rtol=1e-6, atol=1e-9)
    assert f.prime(np.array([0.0]))[0] == (0.25 if name == "sigmoid" else 0.0)


def test_training_a_saturated_network_warns_of_nothing():
    """float32 sigmoid units at z < -88 overflow e^-z on their way to 0: silenced, and right."""
    from scratch.train import minibatches, train
    net = Network.create([784, 16, 16, 10], "sigmoid", "mse", dtype="float32")
    for w in net.weights:
        w *= 400  # every unit saturated
    x = np.random.default_rng(1).random((40, 784), dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in train(net, x, np.arange(40) % 10, minibatches(40, 10, 1, np.random.default_rng(2)), lr=0.1):
            pass
    assert all(np.all(np.isfinite(w)) for w in net.weights)
