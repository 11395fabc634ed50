"""Hidden-layer activations, each beside its derivative.

    sigmoid(z) = 1 / (1 + e^-z)          sigmoid'(z) = sigmoid(z) (1 - sigmoid(z))
    relu(z)    = max(z, 0)               relu'(z)    = 1 if z > 0 else 0   (0 at z = 0, as torch)
"""
from dataclasses import dataclass
from typing import Callable

import numpy as np


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-z). For z < -709 (float64) or -88 (float32) e^-z overflows to inf and the
    result is 1 / inf = 0, the right limit: training and evaluation silence numpy's warning
    of that overflow (np.errstate in scratch.train)."""
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z: np.ndarray) -> np.ndarray:
    s = sigmoid(z)
    return s * (1.0 - s)


def relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0.0)


def relu_prime(z: np.ndarray) -> np.ndarray:
    return (z > 0).astype(z.dtype)


@dataclass(frozen=True)
class Activation:
    name: str
    fn: Callable[[np.ndarray], np.ndarray]     # f(z)
    prime: Callable[[np.ndarray], np.ndarray]  # f'(z)


ACTIVATIONS = {
    "sigmoid": Activation("sigmoid", sigmoid, sigmoid_prime),
    "relu": Activation("relu", relu, relu_prime),
}
