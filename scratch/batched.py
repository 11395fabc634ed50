"""K networks of one shape trained at once, as one stacked model.

The K networks share sizes, activation and cost, and differ in learning rate, initial
weights and batch order (their seeds). Every parameter gets a leading configuration axis,
W_l (K, n_out, n_in) and b_l (K, n_out), every batch and activation is (K, m, n), and each
layer is one batched matmul for all K:

    z^l = a^(l-1) W_l^T + b_l        (K, m, n_in) x (K, n_in, n_out) -> (K, m, n_out)

The arithmetic of each network is that of scratch.Network, so each trajectory is the
one of its single run up to rounding.
"""
from typing import Iterator

import numpy as np

from scratch.network import Network
from scratch.train import epoch_order, one_hot


class StackedNetwork:
    def __init__(self, nets: list[Network], etas: list[float]):
        first = nets[0]
        self.sizes = first.sizes
        self.activation, self.loss = first.activation, first.loss
        self.weights = [np.stack([n.weights[l] for n in nets]) for l in range(len(self.sizes) - 1)]
        self.biases = [np.stack([n.biases[l] for n in nets]) for l in range(len(self.sizes) - 1)]
        self.eta = np.asarray(etas, dtype=first.dtype)  # (K,)

    def __len__(self) -> int:
        return len(self.eta)

    def layer(self, l: int, a: np.ndarray) -> np.ndarray:
        """z of layer l (0-based) for activations a (K, m, n_in), or one batch (m, n_in) for all K."""
        return a @ self.weights[l].transpose(0, 2, 1) + self.biases[l][:, None, :]  # -> (K, m, n_out)

    def forward(self, x: np.ndarray) -> list[np.ndarray]:
        """Activations a^0 = x, a^1 ... a^L, each (K, m, n_l)."""
        activations = [x]
        for l in range(len(self.weights)):
            z = self.layer(l, activations[-1])
            last = l == len(self.weights) - 1
            activations.append(self.loss.output(z) if last else self.activation.fn(z))
        return activations

    def sgd_step(self, x: np.ndarray, y: np.ndarray) -> None:
        """One step of gradient descent for every network k on its batch x[k] (K, m, n_0):
        W <- W - eta_k dC_k/dW, with the backprop of scratch.Network batched over k."""
        activations = self.forward(x)
        delta = self.loss.delta(activations[-1], y)  # (K, m, n_L)
        for l in range(len(self.weights) - 1, -1, -1):
            nabla_w = delta.transpose(0, 2, 1) @ activations[l]  # (K, n_out, m) x (K, m, n_in)
            nabla_b = delta.sum(axis=1)
            if l > 0:
                delta = (delta @ self.weights[l]) * self.activation.prime_of_output(activations[l])
            nabla_w *= self.eta[:, None, None]
            self.weights[l] -= nabla_w
            self.biases[l] -= self.eta[:, None] * nabla_b

    def logits(self, x: np.ndarray) -> np.ndarray:
        """z^L (K, m, n_L) of one set x (m, n_0) for every network."""
        a = x
        for l in range(len(self.weights) - 1):
            a = self.activation.fn(self.layer(l, a))
        return self.layer(len(self.weights) - 1, a)


def train(stack: StackedNetwork, x: np.ndarray, labels: np.ndarray, epochs: int, batch_size: int,
          rngs: list[np.random.Generator]) -> Iterator[int]:
    """scratch.train for a stack: network k visits the set in the orders drawn from rngs[k]."""
    y = one_hot(labels, x.dtype)
    n = len(x)
    for epoch in range(1, epochs + 1):
        orders = np.stack([epoch_order(rng, n) for rng in rngs])  # (K, n)
        for k in range(0, n, batch_size):
            batch = orders[:, k:k + batch_size]  # (K, m)
            stack.sgd_step(x[batch], y[batch])  # (K, m, n_0), (K, m, n_L)
        yield epoch


def evaluate(stack: StackedNetwork, x: np.ndarray, labels: np.ndarray,
             chunk: int = 10000) -> tuple[np.ndarray, np.ndarray]:
    """(cost C, accuracy) of every network over the whole set, each (K,)."""
    y = one_hot(labels, x.dtype)
    cost = np.zeros(len(stack))
    correct = np.zeros(len(stack))
    for k in range(0, len(x), chunk):
        z = stack.logits(x[k:k + chunk])  # (K, chunk, 10)
        cost += stack.loss.fn(z, y[k:k + chunk]) * z.shape[1]
        correct += (z.argmax(axis=2) == labels[k:k + chunk]).sum(axis=1)
    return cost / len(x), correct / len(x)
