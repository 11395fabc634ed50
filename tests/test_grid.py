"""Grid files: expansion over sorted keys, validation, --set overrides, run_id stability."""
import re

import pytest

from experiments.config import RunConfig
from experiments.errors import UsageError
from experiments.grid import expand, parse_override, read_grid

RUN_ID = "7448792af530"  # of RunConfig(lr=0.5, seed=3): the hash of the resolved configuration


def test_bundled_grids_expand():
    name, axes = read_grid("default")
    configs = expand(axes)
    assert name == "default" and len(configs) == 2 * 3 * 3 * 2 * 2
    assert {c.activation for c in configs} == {"sigmoid", "relu"} and {c.loss for c in configs} == {"mse", "bce", "ce"}
    assert all(c.dataset == "sample" for c in configs)
    full = expand(read_grid("full")[1])
    assert {c.epochs for c in full} == {30} and {c.batch_size for c in full} == {10}
    assert len({c.seed for c in full}) >= 3 and min(c.lr for c in full) == 0.01 and max(c.lr for c in full) == 3.0


def test_product_over_sorted_keys(tmp_path):
    path = tmp_path / "g.toml"
    path.write_text('lr = [0.1, 1.0]\nactivation = ["sigmoid", "relu"]\nimpl = ["scratch"]\n')
    configs = expand(read_grid(str(path))[1])
    # sorted keys: activation, impl, lr -> lr varies fastest
    assert [(c.activation, c.lr) for c in configs] == [("sigmoid", 0.1), ("sigmoid", 1.0), ("relu", 0.1), ("relu", 1.0)]
    assert configs[0].init == "lecun" and configs[2].init == "he"  # auto resolved per activation


def test_run_id_is_stable_and_shared_by_the_twins():
    a = RunConfig(impl="scratch", lr=0.5, seed=3)
    b = RunConfig(impl="torch", device="cpu", lr=0.5, seed=3, init="lecun", val_size=500, l2=0)
    assert a.run_id == b.run_id == RUN_ID  # a changed hash would orphan existing results
    assert RunConfig(lr=0.5, seed=4).run_id != a.run_id
    assert RunConfig(lr=0.5, seed=3, l2=1.0).run_id != a.run_id
    assert RunConfig(lr=1).run_id == RunConfig(lr=1.0).run_id


@pytest.mark.parametrize("text,named", [
    ("lr = 0.1", "lr must be a list"),
    ("lr = []", "empty list"),
    ("learning_rate = [0.1]", "unknown key 'learning_rate'"),
    ("lr = [0.1, 0.1]", "more than once"),
    ("lr = [0]", "lr must be > 0"),
    ('lr = ["fast"]', "lr must be a list of numbers"),
    ('activation = ["tanh"]', "unknown activation 'tanh'"),
    ('loss = ["hinge"]', "unknown loss"),
    ('init = ["xavier"]', "unknown init"),
    ('dtype = ["float16"]', "unknown dtype"),
    ('device = ["tpu"]', "unknown device"),
    ("epochs = [0]", "epochs must be >= 1"),
    ("batch_size = [2.5]", "batch_size must be a list of integers"),
    ("batch_size = [3600]", "larger than the 3500 training images"),
    ('sizes = ["100-16-10"]', "must start with 784"),
    ("sizes = [[784, 16, 10]]", 'written like "784-16-16-10"'),
    ('sizes = ["784-16-9"]', "end with 10"),
    ('sizes = ["784,16,10"]', 'written like "784-16-16-10"'),
    ("l2 = [-1]", "l2 must be >= 0"),
    ("momentum = [1.0]", "momentum must be in [0, 1)"),
    ("lr_decay = [0]", "lr_decay must be in (0, 1]"),
    ("val_size = [4000]", "leaves no training images"),
    ("val_size = [-1]", "val_size must be auto or an integer >= 0"),
    ("lr = [0.1", "not valid TOML"),
])
def test_bad_grids_are_rejected_naming_the_key(tmp_path, text, named):
    path = tmp_path / "bad.toml"
    path.write_text(text + "\n")
    with pytest.raises(UsageError, match=re.escape(named)):
        expand(read_grid(str(path))[1])


def test_overrides():
    assert parse_override("lr=0.1,0.3") == ("lr", [0.1, 0.3])
    assert parse_override("sizes=784-30-10") == ("sizes", [(784, 30, 10)])
    assert parse_override("val_size=0,auto") == ("val_size", [0, "auto"])
    assert parse_override("momentum=0.5") == ("momentum", [0.5])
    configs = expand({"lr": [1.0]}, ["lr=0.1,0.3", "epochs=5", "impl=scratch"])
    assert [(c.lr, c.epochs) for c in configs] == [(0.1, 5), (0.3, 5)]
    for bad, named in [("lr", "key=value"), ("lrr=0.1", "unknown key 'lrr'"), ("epochs=two", "'two'"),
                       ("lr=-1", "lr must be > 0"), ("activation=tanh", "unknown activation")]:
        with pytest.raises(UsageError, match=named):
            expand({}, [bad])


def test_sizes_have_one_spelling_in_grids_flags_and_tables(tmp_path):
    from experiments.cli import build_parser
    path = tmp_path / "g.toml"
    path.write_text('sizes = ["784-30-10"]\nimpl = ["scratch"]\n')
    (config,) = expand(read_grid(str(path))[1])
    assert config.sizes == (784, 30, 10) and config.row()["sizes"] == "784-30-10"
    assert build_parser().parse_args(["train", "--sizes", "784-30-10"]).sizes == (784, 30, 10)
    (again,) = expand({}, ["sizes=784-30-10", "impl=scratch"])
    assert again.run_id == config.run_id


def test_a_grid_too_large_is_refused_before_it_is_expanded():
    axes = {"lr": [0.1 * k for k in range(1, 101)], "seed": list(range(100)), "l2": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0,
                                                                                     6.0, 7.0, 8.0, 9.0, 10.0]}
    with pytest.raises(UsageError, match="110,000 runs"):
        expand(axes)


def test_unknown_grid_name():
    with pytest.raises(UsageError, match="neither a bundled grid"):
        read_grid("nosuchgrid")
