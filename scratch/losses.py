"""Loss functions C(z, y) of the output logits z (m, 10) and one-hot targets y (m, 10).

Each loss fixes the output activation it assumes, and gives
  fn(z, y)      the loss C, averaged over the m examples of the batch;
  output(z)     the network's output activations a^L;
  delta(a, y)   dC/dz^L, the error of the output layer (the 1/m included), written
                through a = output(z), which the forward pass already holds.

Values are computed from the logits, so that no log(0) is ever taken and no exponential
overflows, however saturated the outputs. Every function also takes a stack (K, m, 10) of K
networks' outputs and then gives K values: the examples are always the second-to-last
axis, the outputs the last.
"""
from dataclasses import dataclass
from typing import Callable

import numpy as np

from scratch.activations import sigmoid


def softplus(z: np.ndarray) -> np.ndarray:
    """ln(1 + e^z), computed as max(z, 0) + ln(1 + e^-|z|)."""
    return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))


def log_softmax(z: np.ndarray) -> np.ndarray:
    """z - ln sum_j e^z_j per example, with the example's largest z subtracted first."""
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax(z: np.ndarray) -> np.ndarray:
    """e^z_i / sum_j e^z_j per example, as e^log_softmax(z)."""
    return np.exp(log_softmax(z))


def batch_size(a: np.ndarray) -> int:
    return a.shape[-2]


def total(terms: np.ndarray) -> np.ndarray:
    """Sum over the examples and outputs (the last two axes): one number per network."""
    return np.sum(terms, axis=(-2, -1))


def mse(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Quadratic loss with sigmoid outputs: C = 1/(2m) sum_i ||sigmoid(z_i) - y_i||^2."""
    with np.errstate(over="ignore"):  # e^-z of a saturated output overflows on its way to the right 0
        a = sigmoid(z)
    return total((a - y) ** 2) / (2 * batch_size(z))


def mse_delta(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """dC/dz = (a - y) * sigmoid'(z) / m, with sigmoid'(z) = a (1 - a)."""
    return (a - y) * a * (1.0 - a) / batch_size(a)


def bce(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-output cross-entropy with sigmoid outputs:
    C = -1/m sum_i sum_j [y ln a + (1 - y) ln(1 - a)],  a = sigmoid(z),
      =  1/m sum_i sum_j [softplus(z) - y z]."""
    return total(softplus(z) - y * z) / batch_size(z)


def bce_delta(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """dC/dz = (a - y) / m with a = sigmoid(z): the sigmoid' of the quadratic loss cancels."""
    return (a - y) / batch_size(a)


def ce(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Softmax cross-entropy: C = -1/m sum_i ln softmax(z_i)_{label_i} = -1/m sum_i y_i . log_softmax(z_i)."""
    return -total(y * log_softmax(z)) / batch_size(z)


def ce_delta(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """dC/dz = (a - y) / m with a = softmax(z)."""
    return (a - y) / batch_size(a)


@dataclass(frozen=True)
class Loss:
    name: str
    fn: Callable[[np.ndarray, np.ndarray], np.ndarray]      # C(z, y)
    output: Callable[[np.ndarray], np.ndarray]              # a^L = output(z^L)
    delta: Callable[[np.ndarray, np.ndarray], np.ndarray]   # dC/dz^L from (a^L, y)


LOSSES = {
    "mse": Loss("mse", mse, sigmoid, mse_delta),
    "bce": Loss("bce", bce, sigmoid, bce_delta),
    "ce": Loss("ce", ce, softmax, ce_delta),
}
