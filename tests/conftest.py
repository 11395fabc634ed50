import os
from pathlib import Path

import pytest

from experiments.data.datasets import DATA_ROOT_ENV


def compiler_found() -> bool:
    from experiments.cli.args import compiler_found
    return compiler_found()


# one rule for tests that put a step through torch.compile: without a C++ compiler they skip, saying why
needs_compiler = pytest.mark.skipif(not compiler_found(), reason="torch.compile needs a C++ compiler "
                                    "(g++ or clang++, or $CXX), and none is installed")


@pytest.fixture(scope="session")
def sample():
    from experiments.data.datasets import load_dataset
    return load_dataset("sample")


@pytest.fixture(scope="session")
def mnist_root() -> str:
    """The full MNIST's data root, from the environment; tests needing it skip without it."""
    root = os.environ.get(DATA_ROOT_ENV)
    if not root or not (Path(root) / "MNIST" / "raw").is_dir():
        pytest.skip(f"full MNIST not available (set {DATA_ROOT_ENV} to a folder holding MNIST/raw)")
    return root


@pytest.fixture(scope="session")
def reference(tmp_path_factory):
    """One uninterrupted run of a small grid of both twins (8 runs), shared by the runner tests."""
    from tests.helpers import cli, write_grid
    folder = tmp_path_factory.mktemp("reference")
    grid = write_grid(folder / "grid.toml")
    done = cli("run", "--grid", grid, "--out", folder / "out")
    assert done.returncode == 0, done.stderr
    return grid, folder / "out"


@pytest.fixture(scope="session")
def single_engine(reference, tmp_path_factory):
    """The reference grid run one run at a time (--engine single): other code, the same numbers."""
    from tests.helpers import cli
    grid, _ = reference
    out = tmp_path_factory.mktemp("single") / "out"
    done = cli("run", "--grid", grid, "--out", out, "--engine", "single")
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="session")
def scratch_grid(tmp_path_factory):
    """A scratch-only grid of 36 short runs (6 stacks of 6, one per seed), and its tables from
    one uninterrupted run, shared by the fault tests."""
    from tests.helpers import cli, write_grid
    folder = tmp_path_factory.mktemp("faults")
    grid = write_grid(folder / "grid.toml", loss=["mse", "bce", "ce"], lr=[1.0], seed=[0, 1, 2, 3, 4, 5],
                      activation=["sigmoid", "relu"], impl=["scratch"], epochs=[3])
    done = cli("run", "--grid", grid, "--out", folder / "reference")
    assert done.returncode == 0, done.stderr
    return grid, folder / "reference"


@pytest.fixture(scope="session")
def long_grid(tmp_path_factory):
    """4 stacks of 6 scratch runs of 8 epochs: units of a second or two, to interrupt."""
    from tests.helpers import write_grid
    folder = tmp_path_factory.mktemp("long")
    return write_grid(folder / "grid.toml", loss=["mse", "bce", "ce"], lr=[0.5], seed=[0, 1, 2, 3],
                      activation=["sigmoid", "relu"], impl=["scratch"], epochs=[8])
