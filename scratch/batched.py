"""K networks of one shape trained at once on the same mini-batches, as one stacked model.

The K networks share sizes and batch order (one seed) and may differ in activation, cost,
learning rate and initial weights. Every parameter gets a leading configuration axis,
W_l (K, n_out, n_in) and b_l (K, n_out). Activations are columns, a^l (K, n_l, m), as in
Nielsen's network.py, so that the first layer of all K networks is one matrix product with
the batch x (m, n_0) they share, and so is its gradient:

    z^1 = W_1 x^T + b_1            (K n_1, n_0) x (n_0, m) -> (K n_1, m) = (K, n_1, m)
    z^l = W_l a^(l-1) + b_l        (K, n_out, n_in) x (K, n_in, m) -> (K, n_out, m)
    dC/dW_1 = delta^1 x            (K n_1, m) x (m, n_0) -> (K, n_1, n_0)

Each hidden activation is applied to the whole stack and kept where a network uses it
(np.where), each cost to the run of adjacent networks that use it. The
arithmetic of each network is that of scratch.Network up to rounding (the products run
over columns here, rows there), so each trajectory is the one of its single run.
"""
from itertools import groupby
from typing import Callable, Iterator

import numpy as np

from scratch.activations import Activation
from scratch.network import Network
from scratch.train import one_hot, sgd_epochs


def slices(items: list) -> list[tuple[slice, object]]:
    """(slice, item) for every run of equal adjacent items: [a, a, b] -> [(0:2, a), (2:3, b)]."""
    out, start = [], 0
    for item, run in groupby(items):
        n = len(list(run))
        out.append((slice(start, start + n), item))
        start += n
    return out


class StackedNetwork:
    def __init__(self, nets: list[Network], etas: list[float]):
        """A stack of copies of the given networks; keep networks with the same cost adjacent,
        so that each cost is applied once per step."""
        self.sizes = nets[0].sizes
        self.weights = [np.stack([n.weights[l] for n in nets]) for l in range(len(self.sizes) - 1)]
        self.biases = [np.stack([n.biases[l] for n in nets]) for l in range(len(self.sizes) - 1)]
        self.eta = np.asarray(etas, dtype=nets[0].dtype)  # (K,)
        # each activation with the networks (K, 1, 1) that use it; each cost with its run of networks
        self.activations = [(f, np.array([n.activation == f for n in nets])[:, None, None])
                            for f in dict.fromkeys(n.activation for n in nets)]
        self.losses = slices([n.loss for n in nets])
        self._nabla_w1 = np.empty_like(self.weights[0])  # the largest gradient, reused every step

    def __len__(self) -> int:
        return len(self.eta)

    def layer(self, l: int, a: np.ndarray) -> np.ndarray:
        """z of layer l (0-based): a is x^T (n_0, m), shared, for l = 0 and (K, n_in, m) after."""
        w, b = self.weights[l], self.biases[l][:, :, None]
        if l == 0:
            k, n_out, n_in = w.shape
            return (w.reshape(k * n_out, n_in) @ a).reshape(k, n_out, -1) + b  # (K n_1, n_0) x (n_0, m)
        return w @ a + b  # (K, n_out, n_in) x (K, n_in, m) -> (K, n_out, m)

    def per_network(self, value_of: Callable[[Activation], np.ndarray]) -> np.ndarray:
        """value_of(f_k) for each network k's activation f_k: computed for the whole stack with
        every activation in use, and kept where a network uses it."""
        (f, _), *others = self.activations
        value = value_of(f)
        for f, uses in others:
            value = np.where(uses, value_of(f), value)
        return value

    def hidden(self, z: np.ndarray) -> np.ndarray:
        """a = f_k(z_k) with each network's activation f_k."""
        return self.per_network(lambda f: f.fn(z))

    def hidden_prime(self, a: np.ndarray) -> np.ndarray:
        """f_k'(z_k), read off a = f_k(z_k)."""
        return self.per_network(lambda f: f.prime_of_output(a))

    def logits(self, x: np.ndarray) -> np.ndarray:
        """z^L (K, n_L, m) of every network for the examples x (m, n_0)."""
        a = x.T
        for l in range(len(self.weights) - 1):
            a = self.hidden(self.layer(l, a))
        return self.layer(len(self.weights) - 1, a)

    def forward(self, x: np.ndarray) -> list[np.ndarray]:
        """x^T (n_0, m), then the hidden activations a^1 ... a^(L-1) (K, n_l, m), then z^L."""
        activations = [x.T]
        for l in range(len(self.weights) - 1):
            activations.append(self.hidden(self.layer(l, activations[-1])))
        return activations + [self.layer(len(self.weights) - 1, activations[-1])]

    def output_delta(self, z: np.ndarray, y: np.ndarray) -> np.ndarray:
        """eta_k delta^L = eta_k dC_k/dz^L (K, n_L, m) of every network, for targets y (m, n_L)."""
        delta = np.empty_like(z)
        for s, loss in self.losses:
            zt = z[s].transpose(0, 2, 1)  # the costs take examples first: (K, m, n_L)
            delta[s] = loss.delta(loss.output(zt), y, self.eta[s, None, None]).transpose(0, 2, 1)
        return delta

    def costs(self, z: np.ndarray, y: np.ndarray) -> np.ndarray:
        """C_k (K,) of every network's logits z (K, n_L, m) against targets y (m, n_L)."""
        return np.concatenate([loss.fn(z[s].transpose(0, 2, 1), y) for s, loss in self.losses])

    def sgd_step(self, x: np.ndarray, y: np.ndarray) -> None:
        """One step of gradient descent for every network k on the batch (x, y):
        W <- W - eta_k dC_k/dW, the backprop of scratch.Network on columns, batched over k."""
        *activations, z = self.forward(x)
        delta = self.output_delta(z, y)  # eta_k delta^L: every gradient gets eta_k
        for l in range(len(self.weights) - 1, -1, -1):
            if l > 0:
                nabla_w = delta @ activations[l].transpose(0, 2, 1)  # (K, n_out, m) x (K, m, n_in)
            else:
                k, n_out, m = delta.shape
                nabla_w = np.matmul(delta.reshape(k * n_out, m), x, out=self._nabla_w1.reshape(k * n_out, -1))
            nabla_b = delta.sum(axis=2)
            if l > 0:
                delta = (self.weights[l].transpose(0, 2, 1) @ delta) * self.hidden_prime(activations[l])
            self.weights[l] -= nabla_w.reshape(self.weights[l].shape)
            self.biases[l] -= nabla_b


def train(stack: StackedNetwork, x: np.ndarray, labels: np.ndarray, epochs: int, batch_size: int,
          rng: np.random.Generator) -> Iterator[int]:
    """scratch.train for a stack: every network visits the set in the orders drawn from rng."""
    return sgd_epochs(stack.sgd_step, x, labels, epochs, batch_size, rng)


def evaluate(stack: StackedNetwork, x: np.ndarray, labels: np.ndarray,
             chunk: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """(cost C, accuracy) of every network over the whole set, each (K,), `chunk` examples at a
    time: a layer's activations then take K n_l chunk numbers (4.6 MB for 36 x 16 x 2000 in float32)."""
    y = one_hot(labels, x.dtype)
    cost = np.zeros(len(stack))
    correct = np.zeros(len(stack))
    for k in range(0, len(x), chunk):
        z = stack.logits(x[k:k + chunk])  # (K, 10, chunk)
        cost += stack.costs(z, y[k:k + chunk]) * z.shape[2]
        correct += (z.argmax(axis=1) == labels[k:k + chunk]).sum(axis=1)
    return cost / len(x), correct / len(x)
