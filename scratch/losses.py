"""Cost functions C(z, y) of the output logits z (m, 10) and one-hot targets y (m, 10).

Every function also takes a stack (K, m, 10) of K networks' outputs, and then gives K costs:
the examples are always the second-to-last axis, the outputs the last.

Each cost fixes the output activation it assumes and gives
  fn(z, y)     the cost C, averaged over the m examples of the batch;
  output(z)    the network's output activations a (output_(z): the same, in place);
  delta(a, y, scale=1, out=None)
               scale dC/dz, the error of the output layer (the 1/m included) times a
               factor (a training step passes its learning rate; a stack, one per network,
               shaped (K, 1, 1)), shape (m, 10), written
               through a = output(z), which the forward pass already holds; into `out`
               when given.

Values are computed from the logits so that no log(0) is ever taken and no exponential
overflows, however saturated the outputs.
"""
from dataclasses import dataclass
from typing import Callable

import numpy as np

from scratch.activations import sigmoid, sigmoid_


def softplus(z: np.ndarray) -> np.ndarray:
    """ln(1 + e^z), computed as max(z, 0) + ln(1 + e^-|z|)."""
    return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))


def log_softmax(z: np.ndarray) -> np.ndarray:
    """z - logsumexp(z) per row, with the row maximum subtracted first."""
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax_(z: np.ndarray) -> np.ndarray:
    """z <- e^log_softmax(z), in place: the same operations as log_softmax, then e^."""
    z -= z.max(axis=-1, keepdims=True)
    z -= np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return np.exp(z, out=z)


def softmax(z: np.ndarray) -> np.ndarray:
    return softmax_(z.copy(order="K"))  # in z's memory order, which sets the order of the sums


def batch_size(a: np.ndarray) -> int:
    return a.shape[-2]


def total(terms: np.ndarray) -> np.ndarray:
    """Sum over the examples and outputs (the last two axes): one number per network."""
    return np.sum(terms, axis=(-2, -1))


def mse(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Quadratic cost with sigmoid outputs: C = 1/(2m) sum_i ||sigmoid(z_i) - y_i||^2."""
    return total((sigmoid(z) - y) ** 2) / (2 * batch_size(z))


def mse_delta(a: np.ndarray, y: np.ndarray, scale=1.0, out: np.ndarray | None = None) -> np.ndarray:
    """dC/dz = (a - y) * sigmoid'(z) / m, with sigmoid'(z) = a (1 - a); times scale."""
    delta = np.subtract(a, y, out=out)
    delta *= a
    delta *= 1.0 - a
    delta /= batch_size(a)
    delta *= scale  # exact when scale = 1
    return delta


def bce(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-output cross-entropy with sigmoid outputs:
    C = -1/m sum_i sum_j [y ln a + (1 - y) ln(1 - a)],  a = sigmoid(z),
      =  1/m sum_i sum_j [softplus(z) - y z]."""
    return total(softplus(z) - y * z) / batch_size(z)


def bce_delta(a: np.ndarray, y: np.ndarray, scale=1.0, out: np.ndarray | None = None) -> np.ndarray:
    """dC/dz = (a - y) / m with a = sigmoid(z): the sigmoid' of the quadratic cost cancels;
    times scale."""
    delta = np.subtract(a, y, out=out)
    delta /= batch_size(a)
    delta *= scale  # exact when scale = 1
    return delta


def ce(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Softmax cross-entropy: C = -1/m sum_i ln softmax(z_i)_{label_i} = -1/m sum_i y_i . log_softmax(z_i)."""
    return -total(y * log_softmax(z)) / batch_size(z)


def ce_delta(a: np.ndarray, y: np.ndarray, scale=1.0, out: np.ndarray | None = None) -> np.ndarray:
    """dC/dz = (a - y) / m with a = softmax(z); times scale."""
    delta = np.subtract(a, y, out=out)
    delta /= batch_size(a)
    delta *= scale  # exact when scale = 1
    return delta


@dataclass(frozen=True)
class Loss:
    name: str
    fn: Callable[[np.ndarray, np.ndarray], np.ndarray]
    delta: Callable[..., np.ndarray]
    output: Callable[[np.ndarray], np.ndarray]
    output_: Callable[[np.ndarray], np.ndarray]  # output in place


LOSSES = {
    "mse": Loss("mse", mse, mse_delta, sigmoid, sigmoid_),
    "bce": Loss("bce", bce, bce_delta, sigmoid, sigmoid_),
    "ce": Loss("ce", ce, ce_delta, softmax, softmax_),
}
