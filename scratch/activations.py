"""Hidden-layer activations, each beside its derivative.

    sigmoid(z) = 1 / (1 + e^-z)          sigmoid'(z) = sigmoid(z) (1 - sigmoid(z)) = a (1 - a)
    relu(z)    = max(z, 0)               relu'(z)    = 1 if z > 0 else 0 = [a > 0]   (0 at z = 0, as torch)

Both derivatives can be read off the activation a = f(z) itself; backprop uses that form
(`prime_of_output`), since the forward pass already holds every a. Each activation also
comes in place (`fn_`: z <- f(z)), so that a training step writes into buffers it reuses.
"""
from dataclasses import dataclass
from typing import Callable

import numpy as np


def sigmoid_(z: np.ndarray) -> np.ndarray:
    """z <- 1 / (1 + e^-z), in place. e^-z overflows to inf for z < -709 (float64) or -88
    (float32), where 1 / (1 + inf) = 0 is the right limit; numpy warns of the overflow unless
    the caller silences it (sigmoid does; the training loop does once an epoch)."""
    np.negative(z, out=z)
    np.exp(z, out=z)
    z += 1.0
    return np.reciprocal(z, out=z)


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-z) as a new array, without the overflow warning (its limit 0 is right)."""
    with np.errstate(over="ignore"):
        return sigmoid_(z.copy())


def sigmoid_prime(z: np.ndarray) -> np.ndarray:
    return sigmoid_prime_of_output(sigmoid(z))


def sigmoid_prime_of_output(a: np.ndarray) -> np.ndarray:
    return a * (1.0 - a)


def relu_(z: np.ndarray) -> np.ndarray:
    """z <- max(z, 0), in place."""
    return np.maximum(z, 0.0, out=z)


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
    fn_: Callable[[np.ndarray], np.ndarray]  # fn in place


ACTIVATIONS = {
    "sigmoid": Activation("sigmoid", sigmoid, sigmoid_prime, sigmoid_prime_of_output, sigmoid_),
    "relu": Activation("relu", relu, relu_prime, relu_prime_of_output, relu_),
}
