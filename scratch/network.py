"""A fully connected network, the one of 3Blue1Brown's videos and Nielsen's book.

`sizes` lists the neurons per layer, input first: [784, 16, 16, 10] has 784 input pixels,
two hidden layers of 16 and 10 outputs, 13,002 parameters. Layer l computes

    z^l = a^(l-1) W_l^T + b_l        a^l = sigma(z^l)

for a batch a^(l-1) of shape (m, n_in), weights W_l of shape (n_out, n_in) (as nn.Linear)
and biases b_l of shape (n_out,). Hidden layers use the chosen activation; the output
activation belongs to the cost (see scratch.losses).
"""
import numpy as np

from scratch.activations import ACTIVATIONS
from scratch.init import INITS
from scratch.losses import LOSSES


class Network:
    def __init__(self, weights: list[np.ndarray], biases: list[np.ndarray],
                 activation: str = "sigmoid", loss: str = "mse"):
        self.weights = weights
        self.biases = biases
        self.activation = ACTIVATIONS[activation]
        self.loss = LOSSES[loss]

    @classmethod
    def create(cls, sizes: list[int], activation: str = "sigmoid", loss: str = "mse",
               init: str = "lecun", rng: np.random.Generator | None = None,
               dtype: str = "float64") -> "Network":
        """Draw every weight and bias from `rng` with the scheme `init` (scratch.init)."""
        rng = rng if rng is not None else np.random.default_rng(0)
        layers = [INITS[init](rng, n_out, n_in) for n_in, n_out in zip(sizes[:-1], sizes[1:])]
        weights = [w.astype(dtype) for w, _ in layers]
        biases = [b.astype(dtype) for _, b in layers]
        return cls(weights, biases, activation, loss)

    @property
    def sizes(self) -> list[int]:
        return [self.weights[0].shape[1]] + [w.shape[0] for w in self.weights]

    @property
    def dtype(self) -> np.dtype:
        return self.weights[0].dtype

    def num_params(self) -> int:
        return sum(w.size + b.size for w, b in zip(self.weights, self.biases))

    def logits(self, x: np.ndarray) -> np.ndarray:
        """z^L of the output layer for a batch x (m, n_in) -> (m, n_out)."""
        a = x
        for w, b in zip(self.weights[:-1], self.biases[:-1]):
            a = self.activation.fn(a @ w.T + b)  # (m, n_in) x (n_in, n_out) -> (m, n_out)
        return a @ self.weights[-1].T + self.biases[-1]

    def feedforward(self, x: np.ndarray) -> np.ndarray:
        """Output activations a^L (m, n_out)."""
        return self.loss.output(self.logits(x))

    def forward(self, x: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Every weighted input z^l and activation a^l; activations[0] is x itself."""
        zs, activations = [], [x]
        for l, (w, b) in enumerate(zip(self.weights, self.biases)):
            z = activations[-1] @ w.T + b  # (m, n_in) x (n_in, n_out) -> (m, n_out)
            zs.append(z)
            last = l == len(self.weights) - 1
            activations.append(self.loss.output(z) if last else self.activation.fn(z))
        return zs, activations

    def backward(self, x: np.ndarray, y: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Gradient of the batch cost C(x, y) for every weight and bias (backpropagation).

            delta^L = dC/dz^L                               (the cost's delta)
            delta^l = (delta^(l+1) W_(l+1)) * sigma'(z^l)
            dC/dW_l = delta^l^T a^(l-1)     dC/db_l = sum over the batch of delta^l
        """
        zs, activations = self.forward(x)
        nabla_w = [np.empty_like(w) for w in self.weights]
        nabla_b = [np.empty_like(b) for b in self.biases]
        delta = self.loss.delta(zs[-1], y)  # (m, n_L)
        for l in range(len(self.weights) - 1, -1, -1):
            nabla_w[l] = delta.T @ activations[l]  # (n_out, m) x (m, n_in) -> (n_out, n_in)
            nabla_b[l] = delta.sum(axis=0)
            if l > 0:
                delta = (delta @ self.weights[l]) * self.activation.prime(zs[l - 1])  # (m, n_in)
        return nabla_w, nabla_b

    def cost(self, x: np.ndarray, y: np.ndarray) -> float:
        return self.loss.fn(self.logits(x), y)

    def sgd_step(self, x: np.ndarray, y: np.ndarray, eta: float) -> None:
        """One step of gradient descent on the batch: W <- W - eta dC/dW, b <- b - eta dC/db."""
        nabla_w, nabla_b = self.backward(x, y)
        for w, b, nw, nb in zip(self.weights, self.biases, nabla_w, nabla_b):
            w -= eta * nw
            b -= eta * nb
