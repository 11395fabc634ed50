"""The datasets: shapes, ranges, splits; the full MNIST when the environment provides it."""
import numpy as np

from experiments.data import load_dataset


def test_sample_split(sample):
    x, labels, xt, lt = sample.arrays("float32")
    assert x.shape == (4000, 784) and xt.shape == (1000, 784)
    assert x.dtype == np.float32 and 0.0 <= x.min() and x.max() == 1.0
    assert np.bincount(labels).tolist() == [400] * 10 and np.bincount(lt).tolist() == [100] * 10
    assert labels.dtype == np.int64 and set(np.unique(labels)) == set(range(10))
    # deterministic and disjoint: no test image is also a training image
    again = load_dataset("sample")
    assert np.array_equal(again.test_images, sample.test_images)
    train_rows = {r.tobytes() for r in sample.train_images}
    assert sum(r.tobytes() in train_rows for r in sample.test_images) < 5  # MNIST has a few exact duplicates


def test_full_mnist(mnist_root):
    data = load_dataset("mnist", mnist_root)
    x, labels, xt, lt = data.arrays("float64")
    assert x.shape == (60000, 784) and xt.shape == (10000, 784)
    assert labels.shape == (60000,) and lt.shape == (10000,)
    assert 0.0 == x.min() and x.max() == 1.0
    assert abs(data.train_images.mean() - 33.318) < 1e-3 and abs(data.test_images.mean() - 33.791) < 1e-3
