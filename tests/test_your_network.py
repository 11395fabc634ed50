"""A learner's network against the twin (experiments.tools.your_network), proven on networks written
the way learners write them (tests/networks): right ones pass, and each planted bug is caught in
the tensors it touches and named for what it is."""
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments.errors import UsageError
from experiments.tools.your_network import (
    UserCodeError,
    check_gradients,
    compare_training,
    exit_status,
    find_convention,
    format_checks,
    format_comparison,
    load_network,
)
from scratch import Network as ScratchNetwork
from tests.networks import nielsen, rows

SIZES = [784, 16, 16, 10]
TENSORS = ["W1", "b1", "W2", "b2", "W3", "b3"]
NETWORKS = Path(__file__).parent / "networks"
# a right backprop differs from autograd on the same float64 numbers by the rounding of sums of up
# to 784 terms, ~1e-15; the checker's own tolerance is sqrt(eps) = 1.5e-8
ROUNDING = 1e-12
TWIN = 1e-9  # how far apart (relative) the two trainings may drift, as tests/test_parity.py asks


def scratch_network(activation: str, loss: str):
    return lambda sizes: ScratchNetwork.create(sizes, activation, loss, "lecun", np.random.default_rng(0))


RIGHT = [  # (make, activation, loss, convention)
    (nielsen.Network, "sigmoid", "mse", "nielsen"),
    (nielsen.CrossEntropyNetwork, "sigmoid", "bce", "nielsen"),
    (rows.Network, "sigmoid", "mse", "rows"),
    (rows.relu_softmax, "relu", "ce", "rows"),
    (scratch_network("sigmoid", "mse"), "sigmoid", "mse", "rows"),
    (scratch_network("relu", "bce"), "relu", "bce", "rows"),
    (scratch_network("sigmoid", "ce"), "sigmoid", "ce", "rows"),
]


@pytest.mark.parametrize("make, activation, loss, convention", RIGHT,
                         ids=["nielsen-mse", "nielsen-bce", "rows-mse", "rows-relu-ce", "scratch-mse",
                              "scratch-relu-bce", "scratch-ce"])
def test_a_right_network_passes_every_tensor(make, activation, loss, convention):
    net = make(SIZES)
    assert find_convention(net, SIZES) == convention
    checks = check_gradients(net, SIZES, activation, loss)
    assert [c.name for c in checks] == TENSORS
    assert [(c.verdict, c.diagnosis) for c in checks] == [("ok", "ok")] * 6
    assert max(c.rel_err for c in checks) < ROUNDING
    assert all(c.fd_ok for c in checks)
    assert exit_status(checks) == 0
    assert [line.split()[:2] for line in format_checks(checks).splitlines()] == [[n, "ok"] for n in TENSORS]


def test_the_check_leaves_the_weights_as_they_were():
    net = nielsen.Network(SIZES)
    before = [w.copy() for w in net.weights] + [b.copy() for b in net.biases]
    check_gradients(net, SIZES, "sigmoid", "mse")
    assert all(np.array_equal(a, b) for a, b in zip(before, net.weights + net.biases, strict=True))


class SlightlyOff(rows.Network):
    """delta^L off by one part in 100,000: far beyond rounding, far below what a plot would show."""

    def output_error(self, a, y):
        return (1 + 1e-5) * super().output_error(a, y)


EVERY = dict.fromkeys(TENSORS)
BUGS = [  # (make, {tensor: (diagnosis, factor_name, factor)} of the wrong tensors; the others are ok)
    (nielsen.SigmaPrimeDropped, {"W1": ("different", None, None), "b1": ("different", None, None)}),
    (nielsen.TransposedWeightGradient, dict.fromkeys(["W1", "W2", "W3"], ("transposed", None, None))),
    (nielsen.ForgottenBiasGradient, dict.fromkeys(["b1", "b2", "b3"], ("zero", None, None))),
    (nielsen.FlatBiasGradient, dict.fromkeys(["b1", "b2", "b3"], ("shape", None, None))),
    (nielsen.DoubledCost, dict.fromkeys(TENSORS, ("scaled", "2", 2.0))),
    (nielsen.SignFlipped, dict.fromkeys(TENSORS, ("scaled", "-1", -1.0))),
    (nielsen.FeedforwardForgetsLastBias, dict.fromkeys(TENSORS, ("forward", None, None))),
    (rows.MissingOneOverM, dict.fromkeys(TENSORS, ("scaled", "m", 8.0))),
    (rows.OneOverMTwice, dict.fromkeys(TENSORS, ("scaled", "1/m", 1 / 8))),
    (rows.StrayConstant, dict.fromkeys(TENSORS, ("scaled", None, 0.9))),
    (SlightlyOff, dict.fromkeys(TENSORS, ("scaled", None, 1 + 1e-5))),
    (rows.TransposedSquare, {"W2": ("transposed", None, None)}),
]


@pytest.mark.parametrize("make, wrong", BUGS, ids=[make.__name__ for make, _ in BUGS])
def test_a_planted_bug_is_caught_in_its_tensors_and_named(make, wrong):
    checks = check_gradients(make(SIZES), SIZES, "sigmoid", "mse", batch=8)
    assert {c.name: (c.diagnosis, c.factor_name) for c in checks if c.verdict == "wrong"} == \
        {name: (diagnosis, factor_name) for name, (diagnosis, factor_name, _) in wrong.items()}
    for c in checks:
        if c.name in wrong and wrong[c.name][2] is not None:
            assert c.factor == pytest.approx(wrong[c.name][2], rel=1e-12, abs=0)
        if c.name not in wrong:
            assert c.diagnosis == "ok" and c.rel_err < ROUNDING
    assert exit_status(checks) == 1
    lines = format_checks(checks).splitlines()
    assert [line.split()[1].rstrip(":;") for line in lines] == ["WRONG" if n in wrong else "ok" for n in TENSORS]


def test_a_wrong_backprop_disagrees_with_its_own_forward_pass_too():
    """sigma' dropped: the gradient is wrong for the network's own function, not only for the twin."""
    checks = {c.name: c for c in check_gradients(nielsen.SigmaPrimeDropped(SIZES), SIZES, "sigmoid", "mse")}
    assert checks["W1"].fd_ok is False and checks["W1"].rel_err_fd > 0.1
    assert checks["W2"].fd_ok is True


def test_a_network_of_another_activation_matches_its_own_finite_differences():
    """A ReLU network checked as a sigmoid one: wrong against the twin, right against itself."""
    checks = check_gradients(rows.relu_softmax(SIZES), SIZES, "sigmoid", "ce")
    assert {c.diagnosis for c in checks} == {"different"}
    assert all(c.fd_ok for c in checks)


def test_a_forward_pass_that_is_not_backprops_function_is_named():
    checks = check_gradients(nielsen.FeedforwardForgetsLastBias(SIZES), SIZES, "sigmoid", "mse")
    assert all(c.rel_err < ROUNDING and c.fd_ok is False for c in checks)


# ---------------------------------------------------------------- conventions and usage errors

def test_shapes_that_fit_neither_convention_are_a_usage_error():
    with pytest.raises(UsageError) as caught:
        check_gradients(rows.InputMajor(SIZES), SIZES, "sigmoid", "mse")
    assert "(784, 16)" in str(caught.value)  # the shape found, W1 stored (n_in, n_out)
    assert "\n" not in str(caught.value)


def test_a_forced_convention_must_fit():
    assert find_convention(nielsen.Network(SIZES), SIZES, "nielsen") == "nielsen"
    with pytest.raises(UsageError):
        find_convention(nielsen.Network(SIZES), SIZES, "rows")
    with pytest.raises(UsageError):
        find_convention(rows.Network(SIZES), SIZES, "nielsen")


def test_gradients_in_the_other_order_are_a_usage_error():
    with pytest.raises(UsageError) as caught:
        check_gradients(rows.SwappedPair(SIZES), SIZES, "sigmoid", "mse")
    assert not isinstance(caught.value, UserCodeError)


@pytest.mark.parametrize("spec, cls", [(f"{NETWORKS / 'nielsen.py'}:SigmaPrimeDropped", "SigmaPrimeDropped"),
                                       (f"{NETWORKS / 'rows.py'}:relu_softmax", "Network"),
                                       ("tests.networks.nielsen:CrossEntropyNetwork", "CrossEntropyNetwork")])
def test_load_network_builds_a_class_or_calls_a_function_with_the_sizes(spec, cls):
    net = load_network(spec, SIZES)
    assert type(net).__name__ == cls
    assert [w.shape for w in net.weights] == [(16, 784), (16, 16), (10, 16)]


@pytest.mark.parametrize("spec", ["no/such/network.py:Network", "tests.networks.nowhere:Network",
                                  f"{NETWORKS / 'nielsen.py'}:Netwrk", f"{NETWORKS / 'nielsen.py'}",
                                  f"{NETWORKS / 'rows.py'}:HIDDEN"])
def test_what_is_not_there_is_a_usage_error_of_one_line(spec):
    with pytest.raises(UsageError) as caught:
        load_network(spec, SIZES)
    assert not isinstance(caught.value, UserCodeError)
    assert "\n" not in str(caught.value)


def test_a_missing_name_lists_what_the_file_defines():
    with pytest.raises(UsageError) as caught:
        load_network(f"{NETWORKS / 'rows.py'}:Netwrk", SIZES)
    assert "relu_softmax" in str(caught.value) and "Network" in str(caught.value)


FRAME = re.compile(r'File "([^"]+)", line \d+, in (\S+)')


def frames(error: UserCodeError) -> list[tuple[str, str]]:
    """(file, function) of each frame of the user's traceback."""
    return FRAME.findall(error.user_traceback)


def test_a_syntax_error_points_at_the_users_line(tmp_path):
    (tmp_path / "network.py").write_text("import numpy as np\n\nclass Network(\n    pass\n")
    with pytest.raises(UserCodeError) as caught:
        load_network(f"{tmp_path / 'network.py'}:Network", SIZES)
    error = caught.value
    assert str(error).splitlines()[0] == error.summary
    assert "network.py" in error.summary
    assert error.user_traceback.splitlines()[-1].startswith("SyntaxError")
    assert "importlib" not in error.user_traceback and "your_network.py" not in error.user_traceback


def test_a_constructor_that_raises_shows_only_the_users_frames(tmp_path):
    (tmp_path / "network.py").write_text(
        "import numpy as np\n\n"
        "def layer(n_in, n_out):\n"
        "    return np.dot(np.ones((n_out, n_in)), np.ones((n_out, 1)))\n\n"
        "class Network:\n"
        "    def __init__(self, sizes):\n"
        "        self.weights = [layer(a, b) for a, b in zip(sizes[:-1], sizes[1:])]\n")
    with pytest.raises(UserCodeError) as caught:
        load_network(f"{tmp_path / 'network.py'}:Network", SIZES)
    found = frames(caught.value)
    assert [function for _, function in found][-2:] == ["<listcomp>", "layer"]
    assert {file for file, _ in found} == {str(tmp_path / "network.py")}
    assert caught.value.user_traceback.splitlines()[-1].startswith("ValueError")


def test_an_import_that_fails_in_the_users_file_is_their_error(tmp_path):
    (tmp_path / "network.py").write_text("import mnist_loader_that_is_not_here\n")
    with pytest.raises(UserCodeError) as caught:
        load_network(f"{tmp_path / 'network.py'}:Network", SIZES)
    assert frames(caught.value) == [(str(tmp_path / "network.py"), "<module>")]


def test_a_backprop_that_raises_shows_only_the_users_frames():
    with pytest.raises(UserCodeError) as caught:
        check_gradients(nielsen.BackpropRaises(SIZES), SIZES, "sigmoid", "mse")
    found = frames(caught.value)
    assert [function for _, function in found] == ["backprop", "output_error", "error_times_output"]
    assert {file for file, _ in found} == {str(NETWORKS / "nielsen.py")}
    assert "backprop" in caught.value.summary and "\n" not in caught.value.summary


# ---------------------------------------------------------------- training beside the twin

@pytest.fixture(scope="module")
def digits():
    """500 made-up images (uniform pixels in [0, 1]) and labels: the arithmetic, not the learning, is compared."""
    rng = np.random.default_rng(1)
    return rng.random((500, 784)), rng.integers(0, 10, 500)


@pytest.mark.parametrize("make, activation, loss, lr", [(nielsen.Network, "sigmoid", "mse", 3.0),
                                                        (nielsen.CrossEntropyNetwork, "sigmoid", "bce", 0.5),
                                                        (rows.Network, "sigmoid", "mse", 3.0),
                                                        (scratch_network("sigmoid", "mse"), "sigmoid", "mse", 3.0)],
                         ids=["nielsen", "nielsen-bce", "rows", "scratch"])
def test_a_right_network_trains_step_for_step_with_the_twin(digits, make, activation, loss, lr):
    net = make(SIZES)
    start = [np.array(w) for w in net.weights]
    result = compare_training(net, SIZES, activation, loss, *digits, epochs=1, batch_size=10, lr=lr, tol=TWIN)
    assert result.agrees and result.parted_at is None
    assert result.steps == result.total_steps == 50
    assert result.worst_gap <= TWIN
    moved = max(np.abs(w - w0).max() / np.abs(w0).max() for w, w0 in zip(net.weights, start, strict=True))
    assert moved > 1e-3  # the user's own update trained the network: the comparison is not of two standstills
    assert "\n" not in format_comparison(result)


@pytest.mark.parametrize("make, parted, factor", [(nielsen.SignFlipped, TENSORS, -1.0),
                                                  (nielsen.UpdateWithoutOneOverM, TENSORS, 10.0),
                                                  (nielsen.ForgottenBiasGradient, ["b1", "b2", "b3"], 0.0),
                                                  (rows.MissingOneOverM, TENSORS, 10.0),
                                                  (SlightlyOff, TENSORS, 1 + 1e-5),
                                                  (nielsen.SigmaPrimeDropped, ["W1", "b1"], None)],
                         ids=["sign", "update-without-1/m", "no-bias-gradient", "rows-without-1/m", "slightly-off",
                              "no-sigma-prime"])
def test_a_wrong_network_parts_from_the_twin_at_step_1(digits, make, parted, factor):
    result = compare_training(make(SIZES), SIZES, "sigmoid", "mse", *digits, epochs=1, batch_size=10, lr=3.0, tol=TWIN)
    assert result.parted_at == 1 and result.steps == 1 and not result.agrees
    assert [n for n, g in result.gaps.items() if g > TWIN] == parted
    assert all(result.gaps[n] < ROUNDING for n in TENSORS if n not in parted)
    for name in parted:
        if factor is None:
            assert result.step_factors[name] is None
        else:
            assert result.step_factors[name] == pytest.approx(factor, rel=1e-9, abs=1e-12)


def test_a_network_without_its_update_method_is_a_usage_error(digits):
    class NoUpdate(rows.Network):
        step = None
    with pytest.raises(UsageError):
        compare_training(NoUpdate(SIZES), SIZES, "sigmoid", "mse", *digits, epochs=1)


# ------------------------------------------------------------------------------ through the command line

NETWORKS = Path(__file__).parent / "networks"


def test_gradcheck_network_on_the_command_line_passes_a_right_network_and_writes_the_table(tmp_path):
    from tests.helpers import cli
    done = cli("gradcheck", "--network", f"{NETWORKS / 'nielsen.py'}:Network", "--sizes", "784-30-10",
               "--out", tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()[:4]
    assert [line.split()[:2] for line in lines] == [["W1", "ok"], ["b1", "ok"], ["W2", "ok"], ["b2", "ok"]]
    assert all(float(line.split()[2]) < 1e-12 for line in lines)
    table = pd.read_csv(tmp_path / "gradcheck.csv")
    assert list(table.name) == ["W1", "b1", "W2", "b2"] and (table.verdict == "ok").all()


def test_gradcheck_network_names_the_broken_tensor_and_exits_1(tmp_path):
    from tests.helpers import cli
    done = cli("gradcheck", "--network", f"{NETWORKS / 'nielsen.py'}:TransposedWeightGradient",
               "--sizes", "784-30-10", "--out", tmp_path)
    assert done.returncode == 1
    wrong = [line.split()[0] for line in done.stdout.splitlines() if "WRONG" in line]
    assert wrong == ["W1", "W2"] and all("transposed" in line for line in done.stdout.splitlines() if "WRONG" in line)


def test_a_backprop_that_raises_shows_the_users_frames_only(tmp_path):
    from tests.helpers import cli
    done = cli("gradcheck", "--network", f"{NETWORKS / 'nielsen.py'}:BackpropRaises", "--sizes", "784-30-10",
               "--out", tmp_path)
    assert done.returncode == 2 and done.stderr.startswith("mlp-twins gradcheck: error:")
    frames = [line for line in done.stderr.splitlines() if line.strip().startswith("File ")]
    assert frames and all("nielsen.py" in f for f in frames)  # no frame of the suite's own code


def test_compare_run_on_the_command_line_agrees_for_a_right_network_and_parts_for_a_wrong_update():
    from tests.helpers import cli
    args = ["--sizes", "784-30-10", "--epochs", "1"]
    right = cli("compare-run", "--network", f"{NETWORKS / 'nielsen.py'}:Network", *args)
    assert right.returncode == 0 and right.stdout.startswith("your network and the torch twin agree"), right.stderr
    wrong = cli("compare-run", "--network", f"{NETWORKS / 'nielsen.py'}:UpdateWithoutOneOverM", *args)
    assert wrong.returncode == 1 and "at step 1 of" in wrong.stdout
