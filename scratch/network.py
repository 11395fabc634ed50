"""A fully connected network, the one of 3Blue1Brown's videos and Nielsen's book.

`sizes` lists the neurons per layer, input first: [784, 16, 16, 10] has 784 input pixels,
two hidden layers of 16 and 10 outputs, 13,002 parameters. Layer l computes

    z^l = a^(l-1) W_l^T + b_l        a^l = f(z^l)

for a batch a^(l-1) of shape (m, n_in), weights W_l of shape (n_out, n_in) (as nn.Linear)
and biases b_l of shape (n_out,). Hidden layers use the chosen activation f; the output
activation belongs to the cost (see scratch.losses).

All parameters live in one vector theta; every W_l and b_l is a view into it, and every
gradient a view into one vector of the same layout, so that a step of gradient descent
is the single update theta <- theta - eta * grad C. Backpropagation writes every a^l and
delta^l into buffers kept for the batch size, and the gradient into one kept vector, so a
training step allocates next to nothing (on a 2-core machine a step at batch 10 is ~40
numpy calls on small arrays, and their overhead is most of its time).
"""
import numpy as np

from scratch.activations import ACTIVATIONS
from scratch.init import INITS
from scratch.losses import LOSSES


def layer_views(flat: np.ndarray, sizes: list[int]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """W_l (n_out, n_in) and b_l (n_out,) as views into a flat vector, layer after layer."""
    weights, biases, start = [], [], 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        weights.append(flat[start:start + n_out * n_in].reshape(n_out, n_in))
        start += n_out * n_in
        biases.append(flat[start:start + n_out])
        start += n_out
    return weights, biases


class Network:
    def __init__(self, weights: list[np.ndarray], biases: list[np.ndarray],
                 activation: str = "sigmoid", loss: str = "mse"):
        """A network holding copies of the given W_l (n_out, n_in) and b_l (n_out,)."""
        self.sizes = [weights[0].shape[1]] + [w.shape[0] for w in weights]
        self.theta = np.empty(sum(w.size + b.size for w, b in zip(weights, biases)), dtype=weights[0].dtype)
        self.weights, self.biases = layer_views(self.theta, self.sizes)
        for view, value in zip(self.weights + self.biases, list(weights) + list(biases)):
            view[...] = value
        self.activation = ACTIVATIONS[activation]
        self.loss = LOSSES[loss]
        self._step_grad = np.empty_like(self.theta)  # reused by sgd_step: no allocation per step
        self._step_grad_views = layer_views(self._step_grad, self.sizes)
        self._buffers = (0, [], [])  # (m, a^l, delta^l) of the last batch size, l >= 1

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
    def dtype(self) -> np.dtype:
        return self.theta.dtype

    def num_params(self) -> int:
        return self.theta.size

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
            z = activations[-1] @ w.T  # (m, n_in) x (n_in, n_out) -> (m, n_out)
            z += b
            zs.append(z)
            last = l == len(self.weights) - 1
            activations.append(self.loss.output(z) if last else self.activation.fn(z))
        return zs, activations

    def buffers(self, m: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Room for a^l and delta^l (m, n_l) of every layer l >= 1, kept for the next batch of m."""
        if self._buffers[0] != m:
            self._buffers = (m, *([np.empty((m, n), self.dtype) for n in self.sizes[1:]] for _ in range(2)))
        return self._buffers[1:]

    def forward_into(self, x: np.ndarray, activations: list[np.ndarray]) -> list[np.ndarray]:
        """forward's a^1 ... a^L, written into the given (m, n_l) arrays; [x] + those arrays."""
        a, last = x, len(self.weights) - 1
        for l, (w, b) in enumerate(zip(self.weights, self.biases)):
            z = np.matmul(a, w.T, out=activations[l])  # (m, n_in) x (n_in, n_out) -> (m, n_out)
            z += b
            a = self.loss.output_(z) if l == last else self.activation.fn_(z)  # a^l = f(z^l), over z^l
        return [x] + activations

    def gradient(self, x: np.ndarray, y: np.ndarray, out: tuple | None = None, scale: float = 1.0) -> np.ndarray:
        """grad C of the batch cost C(x, y) as one vector laid out like theta (backpropagation),
        times `scale` (which multiplies delta^L, and through it every delta^l).

            delta^L = dC/dz^L                               (the cost's delta)
            delta^l = (delta^(l+1) W_(l+1)) * f'(z^l)        f'(z^l) read off a^l
            dC/dW_l = delta^l^T a^(l-1)     dC/db_l = sum over the batch of delta^l
        """
        if out is None:
            grad = np.empty_like(self.theta)
            nabla_w, nabla_b = layer_views(grad, self.sizes)
        else:
            grad, (nabla_w, nabla_b) = out  # a buffer laid out like theta, and its layer views
        a_buffers, deltas = self.buffers(len(x))
        activations = self.forward_into(x, a_buffers)
        delta = self.loss.delta(activations[-1], y, scale, out=deltas[-1])  # (m, n_L)
        for l in range(len(self.weights) - 1, -1, -1):
            np.matmul(delta.T, activations[l], out=nabla_w[l])  # (n_out, m) x (m, n_in) -> (n_out, n_in)
            np.add.reduce(delta, axis=0, out=nabla_b[l])  # the sum over the batch
            if l > 0:
                delta = np.matmul(delta, self.weights[l], out=deltas[l - 1])  # (m, n_out) x (n_out, n_in) -> (m, n_in)
                delta *= self.activation.prime_of_output(activations[l])
        return grad

    def backward(self, x: np.ndarray, y: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """dC/dW_l and dC/db_l for every layer, shaped like the weights and biases."""
        return layer_views(self.gradient(x, y), self.sizes)

    def cost(self, x: np.ndarray, y: np.ndarray) -> float:
        return float(self.loss.fn(self.logits(x), y))

    def sgd_step(self, x: np.ndarray, y: np.ndarray, eta: float) -> None:
        """One step of gradient descent on the batch: theta <- theta - eta grad C."""
        self.theta -= self.gradient(x, y, out=(self._step_grad, self._step_grad_views), scale=eta)
