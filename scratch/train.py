"""Mini-batch stochastic gradient descent and evaluation.

The mini-batches are given by the caller, as one list of index arrays per epoch
(`minibatches` draws them): a caller that hands the same batches to the torch twin knows
that both networks see the same examples in the same order.
"""
from typing import Iterable, Iterator

import numpy as np

from scratch.network import Network
from scratch.sgd import SGD


def one_hot(labels: np.ndarray, dtype=np.float64, classes: int = 10) -> np.ndarray:
    """(m,) integer labels -> (m, classes) rows of the identity."""
    return np.eye(classes, dtype=dtype)[labels]


def minibatches(n: int, batch_size: int, epochs: int, rng: np.random.Generator) -> Iterator[list[np.ndarray]]:
    """For every epoch, a fresh random order of the n examples cut into mini-batches of
    batch_size (the last one smaller when batch_size does not divide n)."""
    for _ in range(epochs):
        order = rng.permutation(n)
        yield [order[k:k + batch_size] for k in range(0, n, batch_size)]


def train(net: Network, x: np.ndarray, labels: np.ndarray, batches: Iterable[list[np.ndarray]], lr: float,
          l2: float = 0.0, momentum: float = 0.0, lr_decay: float = 1.0) -> Iterator[int]:
    """SGD over the epochs of `batches` (index arrays into x), yielding each finished epoch's
    number (1-based), so that the caller can evaluate between epochs or stop early.

    x (n, n_0) may also be any array-like that gives rows by index (experiments.data.Pixels);
    l2, momentum and lr_decay as in scratch.sgd, with n = len(x)."""
    y = one_hot(labels, x.dtype)
    sgd = SGD(net, lr, l2, len(x), momentum)
    for epoch, batches_of_epoch in enumerate(batches, 1):
        with np.errstate(over="ignore"):  # a saturated sigmoid's e^-z overflows on its way to the right 0
            for batch in batches_of_epoch:
                sgd.step(x[batch], y[batch])
        sgd.lr *= lr_decay
        yield epoch


def evaluate(net: Network, x: np.ndarray, labels: np.ndarray, chunk: int = 2000) -> tuple[float, float]:
    """(loss C over the whole set, fraction of examples whose largest output is the label),
    `chunk` examples at a time: x may be any array-like that gives rows by slice."""
    y = one_hot(labels, x.dtype)
    loss, correct = 0.0, 0
    for k in range(0, len(x), chunk):
        with np.errstate(over="ignore"):
            z = net.logits(x[k:k + chunk])
        loss += float(net.loss.fn(z, y[k:k + chunk])) * len(z)
        correct += int(np.sum(z.argmax(axis=1) == labels[k:k + chunk]))
    return loss / len(x), correct / len(x)
