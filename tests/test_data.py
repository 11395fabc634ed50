"""The datasets: shapes, ranges, the validation split; the full MNIST when the environment provides it."""
import numpy as np
import pytest

from experiments.data.datasets import load_dataset
from experiments.errors import UsageError


def test_sample_split(sample):
    parts = sample.arrays("float32")
    x, labels = parts["train"]
    xt, lt = parts["test"]
    assert x.shape == (4000, 784) and xt.shape == (1000, 784) and len(parts["val"].labels) == 0
    assert x.dtype == np.float32 and 0.0 <= x.min() and x.max() == 1.0
    assert np.bincount(labels).tolist() == [400] * 10 and np.bincount(lt).tolist() == [100] * 10
    assert labels.dtype == np.int64 and set(np.unique(labels)) == set(range(10))
    # deterministic and disjoint: no test image is also a training image
    again = load_dataset("sample")
    assert np.array_equal(again.test_images, sample.test_images)
    train_rows = {r.tobytes() for r in sample.train_images}
    assert sum(r.tobytes() in train_rows for r in sample.test_images) < 5  # MNIST has a few exact duplicates


def test_sample_validation_is_a_stratified_500_held_out_of_training(sample):
    split = sample.split(500)
    assert len(split.train_labels) == 3500 and len(split.val_labels) == 500 and len(split.test_labels) == 1000
    assert np.bincount(split.val_labels).tolist() == [50] * 10
    assert np.array_equal(split.test_images, sample.test_images)
    # every training image is in exactly one of train and validation
    rows = lambda images: sorted(r.tobytes() for r in images)  # noqa: E731
    assert rows(np.concatenate([split.train_images, split.val_images])) == rows(sample.train_images)
    assert np.array_equal(sample.split(500).val_images, split.val_images)  # deterministic
    assert np.bincount(sample.split(37).val_labels).max() - np.bincount(sample.split(37).val_labels).min() <= 1
    none = sample.split(0)
    assert len(none.val_labels) == 0 and np.array_equal(none.train_images, sample.train_images)
    with pytest.raises(UsageError, match="val_size 4000"):
        sample.split(4000)


def test_the_bundled_sample_is_mnists_first_500_training_digits_of_each_class(mnist_root, sample):
    """sample.npz against the official files: the digits it claims to be (SAMPLE.md)."""
    import numpy as np

    from experiments.data.datasets import SAMPLE
    official = load_dataset("mnist", mnist_root)
    with np.load(SAMPLE, allow_pickle=False) as f:
        images, labels = f["images"], f["labels"]
    first = np.concatenate([np.flatnonzero(official.train_labels == c)[:500] for c in range(10)])
    assert np.array_equal(images, official.train_images[first]) and np.array_equal(labels, official.train_labels[first])
    assert SAMPLE.stat().st_size < 1_200_000  # compressed: about 0.8 MB


def test_full_mnist(mnist_root):
    data = load_dataset("mnist", mnist_root)
    assert data.source == "official"
    parts = data.split(10_000).arrays("float64")
    x, xv, xt = parts["train"].x, parts["val"].x, parts["test"].x
    assert x.shape == (50_000, 784) and xv.shape == (10_000, 784) and xt.shape == (10_000, 784)
    assert 0.0 == x.min() and x.max() == 1.0
    assert abs(data.train_images.mean() - 33.318) < 1e-3 and abs(data.test_images.mean() - 33.791) < 1e-3
    # Nielsen's split: the validation set is the last 10,000 of the official training set
    assert np.array_equal(data.split(10_000).val_images, data.train_images[50_000:])


def test_pixels_give_the_numbers_of_the_scaled_arrays(sample):
    """Pixels (uint8, scaled as rows are read) in numpy and in torch equal the scaled arrays
    exactly, and so training and evaluating on them gives exactly the same numbers."""
    import torch

    import scratch
    import torch_ref
    from experiments.execution.training import seed_streams, torch_images
    from scratch import batched
    for dtype in ("float32", "float64"):
        (x, _), (px, _) = sample.arrays(dtype)["train"], sample.parts(dtype)["train"]
        rows = np.random.default_rng(0).permutation(len(x))[:37]
        assert px.dtype == x.dtype and len(px) == len(x) and px.shape == x.shape
        assert np.array_equal(px[rows], x[rows]) and np.array_equal(px[5:900], x[5:900])
        images = torch_images(px, "cpu")
        assert np.array_equal(images.batch(torch.from_numpy(rows)).numpy(), x[rows])
        assert np.array_equal(torch.cat([r for _, r in images.chunks(300)]).numpy(), x)
    arrays, pixels = sample.arrays("float32"), sample.parts("float32")
    outcomes = []
    for parts in (arrays, pixels):
        (images, labels), (test_images, lt) = parts["train"], parts["test"]
        batches = list(scratch.minibatches(len(labels), 10, 1, seed_streams(1)[1]))
        net = scratch.Network.create([784, 16, 16, 10], "sigmoid", "ce", "lecun", seed_streams(1)[0], "float32")
        stack = batched.StackedNetwork([net, net], lr=[0.1, 0.5])
        twin = torch_ref.TwinNet.from_params(net.weights, net.biases, "sigmoid", "ce")
        for _ in zip(scratch.train(net, images, labels, batches, 0.5), batched.train(stack, images, labels, batches),
                     torch_ref.train(twin, torch_images(images, "cpu"), labels, batches, 0.5), strict=True):
            pass
        (s_loss, s_acc), (b_loss, b_acc), (t_loss, t_acc) = (
            scratch.evaluate(net, test_images, lt), batched.evaluate(stack, test_images, lt),
            torch_ref.evaluate(twin, torch_images(test_images, "cpu"), lt))
        twin_params = np.concatenate([p.detach().numpy().ravel() for p in twin.parameters()])
        outcomes.append(np.concatenate([[s_loss, s_acc, t_loss, t_acc], b_loss, b_acc, net.weights[0].ravel(),
                                        np.ravel(stack.weights[0]), twin_params]))
    assert np.array_equal(*outcomes)
