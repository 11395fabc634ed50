"""A data root with missing, truncated or corrupt IDX files is reported before any training."""

import re

import numpy as np
import pytest

from experiments.data import load_dataset
from experiments.errors import UsageError
from tests.helpers import cli


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    return np.array([magic, *array.shape], dtype=">u4").tobytes() + array.astype(np.uint8).tobytes()


@pytest.fixture
def small_root(tmp_path, sample):
    """A valid MNIST folder of 200 training and 100 test digits taken from the sample."""
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, images, labels in (("train", sample.train_images[:200], sample.train_labels[:200]),
                                   ("t10k", sample.test_images[:100], sample.test_labels[:100])):
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(idx_bytes(images.reshape(-1, 28, 28), 2051))
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(idx_bytes(labels, 2049))
    return tmp_path


def test_a_valid_folder_loads_and_is_named_not_official(small_root, sample, capsys):
    data = load_dataset("mnist", str(small_root))
    assert data.train_images.shape == (200, 784) and data.test_images.shape == (100, 784)
    assert np.array_equal(data.train_images, sample.train_images[:200])
    err = capsys.readouterr().err
    assert "warning:" in err and "not the official mnist" in err and "train-images-idx3-ubyte" in err
    assert data.source.startswith("not the official mnist")


def corrupt(raw, kind):
    images, labels = raw / "train-images-idx3-ubyte", raw / "train-labels-idx1-ubyte"
    if kind == "missing":
        labels.unlink()
    elif kind == "truncated":
        images.write_bytes(images.read_bytes()[:5000])
    elif kind == "empty":
        images.write_bytes(b"")
    elif kind == "magic":
        data = bytearray(images.read_bytes())
        data[2:4] = (2049).to_bytes(2, "big")
        images.write_bytes(bytes(data))
    elif kind == "counts":
        data = bytearray(labels.read_bytes())
        data[4:8] = (300).to_bytes(4, "big")
        labels.write_bytes(bytes(data))
    elif kind == "lengths":
        labels.write_bytes(idx_bytes(np.zeros(150), 2049))
    elif kind == "label 200":
        data = bytearray(labels.read_bytes())
        data[8 + 17] = 200
        labels.write_bytes(bytes(data))
    elif kind == "no images":
        images.write_bytes(idx_bytes(np.zeros((0, 28, 28)), 2051))
        labels.write_bytes(idx_bytes(np.zeros(0), 2049))


@pytest.mark.parametrize("kind,message", [
    ("missing", "is missing; run with --download"), ("truncated", "truncated or corrupt"),
    ("empty", "is truncated"), ("magic", "magic number 2049, expected 2051"),
    ("counts", "header promises"), ("lengths", "200 train images but 150 labels"),
    ("label 200", "labels outside 0-9 (1 of them, the first 200 at index 17)"), ("no images", "holds no images"),
])
def test_bad_files_are_reported(small_root, kind, message):
    corrupt(small_root / "MNIST" / "raw", kind)
    with pytest.raises(UsageError, match=re.escape(message)):
        load_dataset("mnist", str(small_root))


def test_bad_data_root_through_the_cli(small_root, tmp_path):
    corrupt(small_root / "MNIST" / "raw", "truncated")
    done = cli("run", "--dataset", "mnist", "--data-root", small_root, "--set", "epochs=1",
               "--set", "impl=scratch", "--out", tmp_path / "out")
    assert done.returncode == 2 and "truncated or corrupt" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "runs.csv").exists() or "scratch" not in (tmp_path / "out" / "runs.csv").read_text()
