"""Hand-written backprop against torch autograd and central finite differences, float64."""
import pytest

from experiments.gradcheck import check
from scratch.activations import ACTIVATIONS
from scratch.losses import LOSSES

PAIRS = [(a, l) for a in ACTIVATIONS for l in LOSSES]


@pytest.mark.parametrize("activation,loss", PAIRS)
def test_scratch_gradients_match_torch_and_finite_differences(activation, loss):
    results = check(activation, loss, "float64", seed=1)
    assert {r.param for r in results} == {"W1", "b1", "W2", "b2", "W3", "b3"}
    for r in results:
        limit = 1e-10 if r.reference == "torch" else 1e-6
        assert r.rel_err <= limit, (r.param, r.reference, r.rel_err)


@pytest.mark.parametrize("sizes", [(784, 30, 10), (784, 8, 8, 8, 10)])
def test_other_shapes(sizes):
    for r in check("relu", "ce", "float64", sizes=sizes, seed=2):
        assert r.rel_err <= (1e-10 if r.reference == "torch" else 1e-6), (r.param, r.reference, r.rel_err)


def test_a_wrong_gradient_is_caught():
    """The check can fail: a delta missing its sigmoid' factor is reported."""
    import numpy as np
    from dataclasses import replace
    from scratch import Network
    from scratch.losses import LOSSES as L
    net = Network.create([784, 16, 16, 10], "sigmoid", "mse", "normal", np.random.default_rng(0))
    x = np.random.default_rng(1).random((8, 784))
    y = np.eye(10)[np.arange(8)]
    right = net.backward(x, y)[0][0]
    net.loss = replace(L["mse"], delta=L["bce"].delta)  # (a - y) / m, wrong for mse
    wrong = net.backward(x, y)[0][0]
    assert np.linalg.norm(wrong - right) / np.linalg.norm(right) > 1e-2
