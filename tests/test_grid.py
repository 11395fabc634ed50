"""Grid files: expansion over sorted keys, validation, --set overrides, run_id stability."""

import pytest

from experiments.errors import UsageError
from experiments.spec.config import RunConfig
from experiments.spec.grid import expand, parse_override, read_grid

RUN_ID = "7448792af530"  # of RunConfig(lr=0.5, seed=3): the hash of the resolved configuration


def test_bundled_grids_expand():
    name, _, axes = read_grid("default")
    configs = expand(axes)
    assert name == "default" and len(configs) == 2 * 3 * 3 * 2 * 2
    assert {c.activation for c in configs} == {"sigmoid", "relu"} and {c.loss for c in configs} == {"mse", "bce", "ce"}
    assert all(c.dataset == "sample" for c in configs)
    full = expand(read_grid("full").axes)
    assert {c.epochs for c in full} == {30} and {c.batch_size for c in full} == {10}
    assert len({c.seed for c in full}) >= 3 and min(c.lr for c in full) == 0.01 and max(c.lr for c in full) == 3.0


def test_product_over_sorted_keys(tmp_path):
    path = tmp_path / "g.toml"
    path.write_text('lr = [0.1, 1.0]\nactivation = ["sigmoid", "relu"]\nimpl = ["scratch"]\n')
    configs = expand(read_grid(str(path)).axes)
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


# each refusal names the file, the key and the value that is wrong
@pytest.mark.parametrize("text,named", [
    ("lr = 0.1", ["lr", "[0.1]"]),
    ("lr = []", ["lr", "empty"]),
    ("learning_rate = [0.1]", ["'learning_rate'", "lr"]),
    ("lr = [0.1, 0.1]", ["lr", "0.1"]),
    ("lr = [0]", ["lr", "> 0", "0"]),
    ('lr = ["fast"]', ["lr", "'fast'"]),
    ('activation = ["tanh"]', ["activation", "'tanh'", "sigmoid, relu"]),
    ('loss = ["hinge"]', ["loss", "'hinge'", "mse, bce, ce"]),
    ('init = ["xavier"]', ["init", "'xavier'", "lecun"]),
    ('dtype = ["float16"]', ["dtype", "'float16'", "float32, float64"]),
    ('device = ["tpu"]', ["device", "'tpu'", "cuda:N"]),
    ("epochs = [0]", ["epochs", ">= 1", "0"]),
    ("batch_size = [2.5]", ["batch_size", "2.5"]),
    ("batch_size = [3600]", ["batch_size 3600", "3500"]),
    ('sizes = ["100-16-10"]', ["sizes 100-16-10", "784"]),
    ("sizes = [[784, 16, 10]]", ["sizes", "[784, 16, 10]", "784-16-16-10"]),
    ('sizes = ["784-16-9"]', ["sizes 784-16-9", "10"]),
    ('sizes = ["784,16,10"]', ["sizes", "'784,16,10'"]),
    ("l2 = [-1]", ["l2", ">= 0", "-1"]),
    ("momentum = [1.0]", ["momentum", "[0, 1)", "1.0"]),
    ("lr_decay = [0]", ["lr_decay", "(0, 1]", "0"]),
    ("val_size = [4000]", ["val_size 4000", "4000"]),
    ("val_size = [-1]", ["val_size", "-1"]),
    ("lr = [0.1", ["bad.toml", "TOML"]),
])
def test_bad_grids_are_rejected_naming_the_key(tmp_path, text, named):
    path = tmp_path / "bad.toml"
    path.write_text(text + "\n")
    with pytest.raises(UsageError) as error:
        expand(read_grid(str(path)).axes, where=str(path))
    assert str(error.value).startswith(str(path))
    for name in named:
        assert name in str(error.value), (name, str(error.value))


def test_overrides():
    assert parse_override("lr=0.1,0.3") == ("lr", [0.1, 0.3])
    assert parse_override("sizes=784-30-10") == ("sizes", [(784, 30, 10)])
    assert parse_override("val_size=0,auto") == ("val_size", [0, "auto"])
    assert parse_override("momentum=0.5") == ("momentum", [0.5])
    configs = expand({"lr": [1.0]}, ["lr=0.1,0.3", "epochs=5", "impl=scratch"])
    assert [(c.lr, c.epochs) for c in configs] == [(0.1, 5), (0.3, 5)]
    for bad, named in [("lr", "'lr'"), ("lrr=0.1", "'lrr'"), ("epochs=two", "'two'"), ("lr=-1", "-1.0"),
                       ("activation=tanh", "'tanh'")]:
        with pytest.raises(UsageError) as error:
            expand({}, [bad])
        assert str(error.value).startswith("--set") and named in str(error.value)


def test_sizes_have_one_spelling_in_grids_flags_and_tables(tmp_path):
    from experiments.cli.main import build_parser
    path = tmp_path / "g.toml"
    path.write_text('sizes = ["784-30-10"]\nimpl = ["scratch"]\n')
    (config,) = expand(read_grid(str(path)).axes)
    assert config.sizes == (784, 30, 10) and config.row()["sizes"] == "784-30-10"
    assert build_parser().parse_args(["train", "--sizes", "784-30-10"]).sizes == (784, 30, 10)
    (again,) = expand({}, ["sizes=784-30-10", "impl=scratch"])
    assert again.run_id == config.run_id


def test_a_grid_too_large_is_refused_before_it_is_expanded():
    axes = {"lr": [0.1 * k for k in range(1, 101)], "seed": list(range(100)), "l2": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0,
                                                                                     6.0, 7.0, 8.0, 9.0, 10.0]}
    with pytest.raises(UsageError, match="110,000 runs"):
        expand(axes)


def test_a_grid_of_many_seeds_is_checked_in_linear_time():
    """10 learning rates x 100,000 seeds: refused in well under a second (a quadratic duplicate
    check took minutes), and a duplicate among 100,000 seeds is still found."""
    import time
    start = time.process_time()
    with pytest.raises(UsageError, match="1,000,000 runs"):
        expand({"lr": [0.1 * k for k in range(1, 11)]}, [f"seed={','.join(map(str, range(100_000)))}"])
    with pytest.raises(UsageError, match="99999"):
        expand({}, [f"seed={','.join(map(str, [*range(100_000), 99_999]))}"])
    assert time.process_time() - start < 5  # generous: the check is what is timed, not the machine


def test_unknown_grid_name():
    with pytest.raises(UsageError) as error:
        read_grid("nosuchgrid")
    assert "'nosuchgrid'" in str(error.value) and "default, full, tuned" in str(error.value)
