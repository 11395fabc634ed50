"""Cost functions C(z, y) of the output logits z (m, 10) and one-hot targets y (m, 10).

Each cost fixes the output activation it assumes and gives
  fn(z, y)     the cost C, averaged over the m examples of the batch;
  delta(z, y)  dC/dz, the error of the output layer (the 1/m included), shape (m, 10);
  output(z)    the network's output activations a.

Values are computed from the logits so that no log(0) is ever taken and no exponential
overflows, however saturated the outputs.
"""
from dataclasses import dataclass
from typing import Callable

import numpy as np

from scratch.activations import sigmoid, sigmoid_prime


def softplus(z: np.ndarray) -> np.ndarray:
    """ln(1 + e^z), computed as max(z, 0) + ln(1 + e^-|z|)."""
    return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))


def log_softmax(z: np.ndarray) -> np.ndarray:
    """z - logsumexp(z) per row, with the row maximum subtracted first."""
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax(z: np.ndarray) -> np.ndarray:
    return np.exp(log_softmax(z))


def mse(z: np.ndarray, y: np.ndarray) -> float:
    """Quadratic cost with sigmoid outputs: C = 1/(2m) sum_i ||sigmoid(z_i) - y_i||^2."""
    return float(np.sum((sigmoid(z) - y) ** 2) / (2 * len(z)))


def mse_delta(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """dC/dz = (a - y) * sigmoid'(z) / m."""
    return (sigmoid(z) - y) * sigmoid_prime(z) / len(z)


def bce(z: np.ndarray, y: np.ndarray) -> float:
    """Per-output cross-entropy with sigmoid outputs:
    C = -1/m sum_i sum_j [y ln a + (1 - y) ln(1 - a)],  a = sigmoid(z),
      =  1/m sum_i sum_j [softplus(z) - y z]."""
    return float(np.sum(softplus(z) - y * z) / len(z))


def bce_delta(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """dC/dz = (sigmoid(z) - y) / m: the sigmoid' of the quadratic cost cancels."""
    return (sigmoid(z) - y) / len(z)


def ce(z: np.ndarray, y: np.ndarray) -> float:
    """Softmax cross-entropy: C = -1/m sum_i ln softmax(z_i)_{label_i} = -1/m sum_i y_i . log_softmax(z_i)."""
    return float(-np.sum(y * log_softmax(z)) / len(z))


def ce_delta(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """dC/dz = (softmax(z) - y) / m."""
    return (softmax(z) - y) / len(z)


@dataclass(frozen=True)
class Loss:
    name: str
    fn: Callable[[np.ndarray, np.ndarray], float]
    delta: Callable[[np.ndarray, np.ndarray], np.ndarray]
    output: Callable[[np.ndarray], np.ndarray]


LOSSES = {
    "mse": Loss("mse", mse, mse_delta, sigmoid),
    "bce": Loss("bce", bce, bce_delta, sigmoid),
    "ce": Loss("ce", ce, ce_delta, softmax),
}
