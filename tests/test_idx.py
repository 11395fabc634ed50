"""A data root with missing, truncated or corrupt IDX files is reported before any training."""
import os

import numpy as np
import pytest

from experiments.data.datasets import load_dataset
from experiments.errors import UsageError
from tests.helpers import cli, idx_bytes, mnist_folder, one_line_error


@pytest.fixture
def small_root(tmp_path, sample):
    """A valid MNIST folder of 200 training and 100 test digits taken from the sample."""
    return mnist_folder(tmp_path, sample.train_images[:200], sample.train_labels[:200], sample.test_images[:100],
                        sample.test_labels[:100])


def test_a_valid_folder_loads_and_is_named_not_official(small_root, sample, capsys):
    data = load_dataset("mnist", str(small_root))
    assert data.train_images.shape == (200, 784) and data.test_images.shape == (100, 784)
    assert np.array_equal(data.train_images, sample.train_images[:200])
    err = capsys.readouterr().err
    assert err.startswith("warning:") and "train-images-idx3-ubyte" in err
    assert data.source.startswith("not the official mnist")


def test_idx_files_are_read_with_numpy_as_torchvision_reads_them(small_root):
    """The NumPy reader against torchvision's own (an independent parser of the same format)."""
    from torchvision.datasets import MNIST
    data = load_dataset("mnist", str(small_root))
    for train, images, labels in ((True, data.train_images, data.train_labels),
                                  (False, data.test_images, data.test_labels)):
        theirs = MNIST(str(small_root), train=train, download=False)
        assert np.array_equal(theirs.data.numpy().reshape(len(images), 784), images)
        assert np.array_equal(theirs.targets.numpy(), labels) and labels.dtype == np.int64


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
    elif kind == "fifo":
        images.unlink()
        os.mkfifo(images)


# what each message must name: the file, and the numbers that show what is wrong
@pytest.mark.parametrize("kind,named", [
    ("missing", ["train-labels-idx1-ubyte", "--download"]), ("truncated", ["5000", "156816"]),
    ("empty", ["train-images-idx3-ubyte", "0 bytes"]), ("magic", ["2049", "2051"]),
    ("counts", ["train-labels-idx1-ubyte", "208", "308"]), ("lengths", ["200", "150"]),
    ("label 200", ["1 of them", "200", "17"]), ("no images", ["train-images-idx3-ubyte"]),
    ("fifo", ["train-images-idx3-ubyte", "not a regular file"]),
])
def test_bad_files_are_reported(small_root, kind, named):
    corrupt(small_root / "MNIST" / "raw", kind)
    with pytest.raises(UsageError) as error:
        load_dataset("mnist", str(small_root))
    for name in named:
        assert name in str(error.value)


def test_bad_data_root_through_the_cli(small_root, tmp_path):
    corrupt(small_root / "MNIST" / "raw", "truncated")
    done = cli("run", "--dataset", "mnist", "--data-root", small_root, "--set", "epochs=1",
               "--set", "impl=scratch", "--out", tmp_path / "out")
    one_line_error(done, "train-images-idx3-ubyte")
    assert not (tmp_path / "out").exists()
