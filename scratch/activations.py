"""Hidden-layer activations, each beside its derivative.

    sigmoid(z) = 1 / (1 + e^-z)          sigmoid'(z) = sigmoid(z) (1 - sigmoid(z)) = a (1 - a)
    relu(z)    = max(z, 0)               relu'(z)    = 1 if z > 0 else 0 = [a > 0]   (0 at z = 0, as torch)

Both derivatives can be read off the activation a = f(z) itself; backprop uses that form
(`prime_of_output`), since the forward pass already holds every a.
"""
from dataclasses import dataclass
from typing import Callable

import numpy as np


def sigmoid(z: np.ndarray) -> np.ndarray:
    # 1 / (1 + e^-z), in place; e^-z overflows to inf for z < -709, where 1 / (1 + inf) = 0
    # is the right limit, so that overflow is not worth a warning
    with np.errstate(over="ignore"):
        a = np.exp(-z)
    a += 1.0
    return np.reciprocal(a, out=a)


def sigmoid_prime(z: np.ndarray) -> np.ndarray:
    return sigmoid_prime_of_output(sigmoid(z))


def sigmoid_prime_of_output(a: np.ndarray) -> np.ndarray:
    return a * (1.0 - a)


def relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0.0)


def relu_prime(z: np.ndarray) -> np.ndarray:
    return (z > 0).astype(z.dtype)


def relu_prime_of_output(a: np.ndarray) -> np.ndarray:
    return a > 0  # relu(z) > 0 exactly where z > 0


@dataclass(frozen=True)
class Activation:
    name: str
    fn: Callable[[np.ndarray], np.ndarray]
    prime: Callable[[np.ndarray], np.ndarray]
    prime_of_output: Callable[[np.ndarray], np.ndarray]


ACTIVATIONS = {
    "sigmoid": Activation("sigmoid", sigmoid, sigmoid_prime, sigmoid_prime_of_output),
    "relu": Activation("relu", relu, relu_prime, relu_prime_of_output),
}
