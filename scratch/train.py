"""Mini-batch stochastic gradient descent and evaluation.

Every epoch visits the training set in the order `epoch_order(rng, n)`; the torch twin
draws its order from the same function, so that both see the same mini-batches.
"""
from typing import Callable, Iterator

import numpy as np

from scratch.network import Network


def one_hot(labels: np.ndarray, dtype=np.float64, classes: int = 10) -> np.ndarray:
    """(m,) integer labels -> (m, classes) rows of the identity."""
    return np.eye(classes, dtype=dtype)[labels]


def epoch_order(rng: np.random.Generator, n: int) -> np.ndarray:
    """The order in which one epoch visits the n training examples."""
    return rng.permutation(n)


def sgd_epochs(step: Callable[[np.ndarray, np.ndarray], None], x: np.ndarray, labels: np.ndarray, epochs: int,
               batch_size: int, rng: np.random.Generator) -> Iterator[int]:
    """Call step(x_batch, y_batch) on every mini-batch of `epochs` epochs, each epoch in the
    order epoch_order(rng, n), yielding each finished epoch's number (1-based). x is an array
    (n, n_0), or any array-like with len, dtype and rows by index (experiments.data.Pixels)."""
    y = one_hot(labels, x.dtype)
    n = len(x)
    for epoch in range(1, epochs + 1):
        order = epoch_order(rng, n)
        # gathering each mini-batch touches m rows; shuffling the whole set first would copy
        # all of it every epoch, which measured 20x slower on a 2-core machine (results/bench).
        # A saturated sigmoid unit overflows e^-z to inf on its way to the right value 0
        # (scratch.activations.sigmoid_): numpy's warning of it is silenced once an epoch.
        with np.errstate(over="ignore"):
            for k in range(0, n, batch_size):
                batch = order[k:k + batch_size]
                step(x[batch], y[batch])
        yield epoch


def train(net: Network, x: np.ndarray, labels: np.ndarray, epochs: int, batch_size: int,
          eta: float, rng: np.random.Generator) -> Iterator[int]:
    """Run `epochs` epochs of SGD on (x, labels), yielding each finished epoch's number (1-based).

    The caller evaluates between epochs and may stop early by leaving the loop. The last
    mini-batch of an epoch is smaller when batch_size does not divide len(x).
    """
    return sgd_epochs(lambda xb, yb: net.sgd_step(xb, yb, eta), x, labels, epochs, batch_size, rng)


def evaluate(net: Network, x: np.ndarray, labels: np.ndarray, chunk: int = 2000) -> tuple[float, float]:
    """(cost C over the whole set, fraction of examples whose largest output is the label),
    `chunk` examples at a time: x may be any array-like that gives rows by slice."""
    y = one_hot(labels, x.dtype)
    cost, correct = 0.0, 0
    for k in range(0, len(x), chunk):
        z = net.logits(x[k:k + chunk])
        cost += float(net.loss.fn(z, y[k:k + chunk])) * len(z)
        correct += int(np.sum(z.argmax(axis=1) == labels[k:k + chunk]))
    return cost / len(x), correct / len(x)
