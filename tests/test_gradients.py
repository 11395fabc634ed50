"""Hand-written backprop against torch autograd and central finite differences, float64; and
the check itself, shown to fail on a backprop with a bug."""
import re

import numpy as np
import pandas as pd
import pytest

from experiments.cli.main import main
from experiments.tools.gradcheck import check
from scratch import ACTIVATIONS, LOSSES, Network

PAIRS = [(a, c) for a in ACTIVATIONS for c in LOSSES]


@pytest.mark.parametrize("activation,loss", PAIRS)
@pytest.mark.parametrize("l2", [0.0, 3.0])
def test_scratch_gradients_match_torch_and_finite_differences(activation, loss, l2):
    results = check(activation, loss, "float64", l2=l2, seed=1)
    assert {r.param for r in results} == {"W1", "b1", "W2", "b2", "W3", "b3"}
    for r in results:
        limit = 1e-10 if r.reference == "torch" else 1e-6
        assert r.rel_err <= limit, (r.param, r.reference, r.rel_err)


@pytest.mark.parametrize("sizes", [(784, 30, 10), (784, 8, 8, 8, 10)])
def test_other_shapes(sizes):
    for r in check("relu", "ce", "float64", sizes=sizes, seed=2):
        assert r.rel_err <= (1e-10 if r.reference == "torch" else 1e-6), (r.param, r.reference, r.rel_err)


def backprop_without_first_sigma_prime(self, x, y):
    """Network.backprop with a bug: BP2 into the first hidden layer forgets f'(z^1)."""
    zs, activations = self.forward(x)
    nabla_w, nabla_b = [None] * len(self.weights), [None] * len(self.biases)
    delta = self.loss.delta(activations[-1], y)
    for l in reversed(range(len(self.weights))):
        nabla_b[l] = delta.sum(axis=0)
        nabla_w[l] = delta.T @ activations[l]
        if l > 1:
            delta = (delta @ self.weights[l]) * self.activation.prime(zs[l - 1])
        elif l == 1:
            delta = delta @ self.weights[l]  # the bug
    return nabla_w, nabla_b


def test_gradcheck_exits_1_and_names_the_tensor_a_broken_backprop_gets_wrong(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(Network, "backprop", backprop_without_first_sigma_prime)
    assert main(["gradcheck", "--out", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    failed = set(re.findall(r"FAILED \S+ l2=\S+ (\w+) against", out))
    assert failed == {"W1", "b1"}  # the tensors whose gradient goes through the missing factor, and only they
    table = pd.read_csv(tmp_path / "gradcheck.csv")
    assert set(table[~table.passed].param) == {"W1", "b1"}
    assert (table[~table.passed].rel_err > 1e-2).all()  # wrong by far, in every activation and loss
    assert len(table[~table.passed].groupby(["activation", "loss", "reference"])) == 2 * len(PAIRS)


def test_gradcheck_passes_on_the_real_backprop(capsys, tmp_path):
    assert main(["gradcheck", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "FAILED" not in out and "144 / 144 checks within tolerance" in out
    table = pd.read_csv(tmp_path / "gradcheck.csv")
    assert set(table.l2) == {0.0, 1.0} and table.passed.all()
    assert np.all(table.rel_err < table.tolerance)


def test_finite_differences_allow_for_their_own_rounding_in_a_deep_network():
    """Through six sigmoid layers the first layers' gradients nearly vanish, and a difference
    quotient's rounding error (about eps |C| / h) outgrows 1e-6 of them: the tolerance allows for
    that error, while torch, exact to rounding, still agrees to 1e-10."""
    from experiments.tools.gradcheck import TOLERANCES, check
    checks = check("sigmoid", "mse", "float64", (784, 16, 16, 16, 16, 16, 16, 10), l2=1.0)
    assert all(c.passed for c in checks)
    fd = [c for c in checks if c.reference == "finite_difference"]
    assert max(c.rel_err for c in fd) > TOLERANCES["float64"]["finite_difference"]  # beyond the plain tolerance
    assert max(c.rel_err for c in checks if c.reference == "torch") < 1e-10
    assert max(c.tolerance for c in fd if c.param == "W7") < 1e-4  # where the gradient is large, still tight


def test_an_entry_at_a_relu_kink_is_not_differenced_and_says_so(capsys, tmp_path):
    """With one ReLU per layer, dead neurons sit at z = 0 exactly, where every step of b2
    crosses the kink: those checks compare nothing by finite differences, and gradcheck says so
    rather than failing or pretending."""
    assert main(["gradcheck", "--sizes", "784-1-1-10", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    table = pd.read_csv(tmp_path / "gradcheck.csv")
    empty = table[table.entries == 0]
    assert len(empty) > 0 and set(empty.reference) == {"finite_difference"} and set(empty.activation) == {"relu"}
    assert f"({len(empty)} of them with no entry to compare)" in out and "checked against torch only" in out
    assert (table[table.reference == "torch"].entries > 0).all()
