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


def test_pixels_give_the_numbers_of_the_scaled_arrays(sample):
    """Pixels (uint8, scaled as rows are read) in numpy and in torch equal arrays() exactly,
    and so training and evaluating on them gives exactly the same numbers."""
    import torch

    import scratch
    import torch_ref
    from experiments.execute import seed_streams
    from scratch import batched
    from torch_ref.train import Images
    for dtype in ("float32", "float64"):
        x, labels, xt, lt = sample.arrays(dtype)
        px, _, pxt, _ = sample.pixels(dtype)
        rows = np.random.default_rng(0).permutation(len(x))[:37]
        assert px.dtype == x.dtype and len(px) == len(x) and px.shape == x.shape
        assert np.array_equal(px[rows], x[rows]) and np.array_equal(pxt[5:900], xt[5:900])
        images = Images(px, "cpu")
        assert np.array_equal(images.batch(torch.from_numpy(rows)).numpy(), x[rows])
        assert np.array_equal(torch.cat([r for _, r in images.chunks(300)]).numpy(), x)
    x, labels, xt, lt = sample.arrays("float32")
    px, _, pxt, _ = sample.pixels("float32")
    outcomes = []
    for images, test_images in ((x, xt), (px, pxt)):
        net = scratch.Network.create([784, 16, 16, 10], "sigmoid", "ce", "lecun", seed_streams(1)[0], "float32")
        stack = batched.StackedNetwork([net, net], [0.1, 0.5])
        twin = torch_ref.TwinNet.from_scratch(net)
        for _ in zip(scratch.train(net, images, labels, 1, 10, 0.5, seed_streams(1)[1]),
                     batched.train(stack, images, labels, 1, 10, seed_streams(1)[1]),
                     torch_ref.train(twin, images, labels, 1, 10, 0.5, seed_streams(1)[1])):
            pass
        (s_cost, s_acc), (b_cost, b_acc), (t_cost, t_acc) = (
            scratch.evaluate(net, test_images, lt), batched.evaluate(stack, test_images, lt),
            torch_ref.evaluate(twin, test_images, lt))
        twin_params = np.concatenate([p.detach().numpy().ravel() for p in twin.parameters()])
        outcomes.append(np.concatenate([[s_cost, s_acc, t_cost, t_acc], b_cost, b_acc, net.theta,
                                        np.ravel(stack.weights[0]), twin_params]))
    assert np.array_equal(*outcomes)
