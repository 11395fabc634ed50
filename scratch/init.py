"""Weight initialisation schemes; weights are (n_out, n_in), biases (n_out,).

  normal: W, b ~ N(0, 1)                    the seed article and Nielsen's network.py
  lecun:  W ~ N(0, 1/n_in), b = 0            keeps sigmoid units out of saturation
  he:     W ~ N(0, 2/n_in), b = 0            keeps the variance of ReLU activations constant

Default: `lecun` for sigmoid, `he` for relu.
"""
import numpy as np


def normal(rng: np.random.Generator, n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.standard_normal((n_out, n_in)), rng.standard_normal(n_out)


def lecun(rng: np.random.Generator, n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.standard_normal((n_out, n_in)) * np.sqrt(1.0 / n_in), np.zeros(n_out)


def he(rng: np.random.Generator, n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.standard_normal((n_out, n_in)) * np.sqrt(2.0 / n_in), np.zeros(n_out)


INITS = {"normal": normal, "lecun": lecun, "he": he}

DEFAULT_INIT = {"sigmoid": "lecun", "relu": "he"}


def default_init(activation: str) -> str:
    return DEFAULT_INIT[activation]
