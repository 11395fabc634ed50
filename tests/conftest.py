import os
from pathlib import Path

import pytest

from experiments.data import DATA_ROOT_ENV


@pytest.fixture(scope="session")
def sample():
    from experiments.data import load_dataset
    return load_dataset("sample")


@pytest.fixture(scope="session")
def mnist_root() -> str:
    """The full MNIST's data root, from the environment; tests needing it skip without it."""
    root = os.environ.get(DATA_ROOT_ENV)
    if not root or not (Path(root) / "MNIST" / "raw").is_dir():
        pytest.skip(f"full MNIST not available (set {DATA_ROOT_ENV} to a folder holding MNIST/raw)")
    return root
