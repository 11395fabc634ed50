"""K networks of one shape trained at once on the same mini-batches, as one stacked model.

This is the engine that runs grids; scratch.network is the one to read. The K networks
share sizes and mini-batches (one seed) and may differ in activation, loss, initial weights,
learning rate, L2 strength, momentum and decay. Every parameter gets a leading network axis,
W_l (K, n_out, n_in) and b_l (K, n_out). Activations are columns, a^l (K, n_l, m), so that
the first layer of all K networks is one matrix product with the batch x (m, n_0) they
share (above SMALL_BATCH examples; below, one per network, see (3)), and so is its gradient:

    z^1 = W_1 x^T + b_1            (K n_1, n_0) x (n_0, m) -> (K n_1, m) = (K, n_1, m)
    z^l = W_l a^(l-1) + b_l        (K, n_out, n_in) x (K, n_in, m) -> (K, n_out, m)
    dC/dW_1 = delta^1 x            (K n_1, m) x (m, n_0) -> (K, n_1, n_0)

Each hidden activation is applied to the whole stack and kept where a network uses it
(np.where), each loss to the run of adjacent networks that use it. For speed, a step
(1) reads f'(z^l) off a^l (a (1 - a) for sigmoid, [a > 0] for relu) instead of keeping z^l,
(2) scales delta^L by each network's learning rate, so that backprop yields lr_k dC_k/dW
directly and the velocity kept is u = lr_k v, and (3) moves the first layer's weights, by far
the largest array, as few times as the math allows: z^1 is read off W_1 one network at a time
(each network's block stays in the core's cache), and one BLAS gemm adds the step to W_1 in
place, C <- C - (lr delta^1)^T x, without the gradient ever being written out on its own
(`first_layer_step`). At batch 10 these two products are bound by memory, not arithmetic
(docs/performance.md). Each
network's arithmetic is that of scratch.Network and scratch.sgd.SGD up to rounding, so each
trajectory is the one of its single run (tests/test_batched.py).
"""
from itertools import groupby
from typing import Iterable, Iterator

import numpy as np
from scipy.linalg import blas

from scratch.activations import ACTIVATIONS
from scratch.network import Network
from scratch.train import one_hot

GEMM = {"float64": blas.dgemm, "float32": blas.sgemm}
SMALL_BATCH = 64  # up to this many examples, z^1 is computed a network at a time (`layer`)
# f'(z) read off a = f(z): sigmoid' = a (1 - a), relu' = [z > 0] = [a > 0]
PRIME_FROM_A = {"sigmoid": lambda a: a * (1.0 - a), "relu": lambda a: a > 0}


def slices(items: list) -> list[tuple[slice, object]]:
    """(slice, item) for every run of equal adjacent items: [a, a, b] -> [(0:2, a), (2:3, b)]."""
    out, start = [], 0
    for item, run in groupby(items):
        n = len(list(run))
        out.append((slice(start, start + n), item))
        start += n
    return out


def one_per_network(values, k: int, dtype) -> np.ndarray:
    """One value per network, (K,): `values` given per network or once for all."""
    return np.broadcast_to(np.asarray(values, dtype=np.float64), (k,)).astype(dtype)


class StackedNetwork:
    """K networks as one: W_l (K, n_out, n_in), b_l (K, n_out), activations (K, n_l, m), and
    per network lr, lr_decay (K,) and, when any network uses them, L2 weight decay (K,) and
    momentum (K, 1, 1) with velocities shaped like the parameters."""

    def __init__(self, nets: list[Network], lr, l2=0.0, momentum=0.0, lr_decay=1.0, n: int = 1):
        """A stack of copies of the given networks, each trained with its own lr, l2 (over a
        training set of n examples), momentum and lr_decay (scratch.sgd); networks of one loss
        must be adjacent, so that each loss is applied once per step."""
        k, dtype = len(nets), nets[0].dtype
        self.sizes = nets[0].sizes
        self.weights = [np.stack([net.weights[l] for net in nets]) for l in range(len(self.sizes) - 1)]
        self.biases = [np.stack([net.biases[l] for net in nets]) for l in range(len(self.sizes) - 1)]
        self.lr, self.lr_decay = one_per_network(lr, k, dtype), one_per_network(lr_decay, k, dtype)
        l2, momentum = one_per_network(l2, k, dtype), one_per_network(momentum, k, dtype)
        self.weight_decay = l2 / n if l2.any() else None  # lambda_k / n
        self.momentum = momentum[:, None, None] if momentum.any() else None
        self.velocity = ([np.zeros_like(w) for w in self.weights], [np.zeros_like(b) for b in self.biases]) \
            if self.momentum is not None else None
        # each activation with the networks (K, 1, 1) that use it; each loss with its run of networks
        self.activations = [(name, np.array([net.activation.name == name for net in nets])[:, None, None])
                            for name in dict.fromkeys(net.activation.name for net in nets)]
        self.losses = slices([net.loss for net in nets])
        if len(self.losses) != len({net.loss.name for net in nets}):
            raise ValueError("networks of one loss must be adjacent in a stack")
        self.gemm = GEMM[np.dtype(dtype).name]  # C <- alpha op(A) op(B) + beta C, in the stack's dtype

    def __len__(self) -> int:
        return len(self.lr)

    def layer(self, l: int, a: np.ndarray) -> np.ndarray:
        """z of layer l (0-based): a is the batch x (m, n_0), shared, for l = 0 and (K, n_in, m) after."""
        w, b = self.weights[l], self.biases[l][:, :, None]
        if l == 0 and len(a) <= SMALL_BATCH:
            # one product per network, (n_1, n_0) x (n_0, m): a network's W_1 (100 kB in float64) stays in
            # the core's cache while it is read, where one product of the whole (K n_1, n_0) would not
            return w @ a.T + b  # (K, n_1, n_0) x (n_0, m) -> (K, n_1, m)
        if l == 0:  # an evaluation chunk: one large product, bound by arithmetic rather than memory
            k, n_out, n_in = w.shape
            return (w.reshape(k * n_out, n_in) @ a.T).reshape(k, n_out, -1) + b  # (K n_1, n_0) x (n_0, m)
        return w @ a + b  # (K, n_out, n_in) x (K, n_in, m) -> (K, n_out, m)

    def per_network(self, value_of) -> np.ndarray:
        """value_of(name) for each network's activation: computed for the whole stack with every
        activation in use, and kept where a network uses it."""
        (name, _), *others = self.activations
        value = value_of(name)
        for name, uses in others:
            value = np.where(uses, value_of(name), value)
        return value

    def hidden(self, z: np.ndarray) -> np.ndarray:
        """a = f_k(z_k) with each network's activation f_k."""
        return self.per_network(lambda name: ACTIVATIONS[name].fn(z))

    def hidden_prime(self, a: np.ndarray) -> np.ndarray:
        """f_k'(z_k), read off a = f_k(z_k)."""
        return self.per_network(lambda name: PRIME_FROM_A[name](a))

    def logits(self, x: np.ndarray) -> np.ndarray:
        """z^L (K, n_L, m) of every network for the examples x (m, n_0)."""
        a = x
        for l in range(len(self.weights) - 1):
            a = self.hidden(self.layer(l, a))
        return self.layer(len(self.weights) - 1, a)

    def forward(self, x: np.ndarray) -> list[np.ndarray]:
        """x (m, n_0), then the hidden activations a^1 ... a^(L-1) (K, n_l, m), then z^L."""
        activations = [x]
        for l in range(len(self.weights) - 1):
            activations.append(self.hidden(self.layer(l, activations[-1])))
        return activations + [self.layer(len(self.weights) - 1, activations[-1])]

    def output_delta(self, z: np.ndarray, y: np.ndarray) -> np.ndarray:
        """lr_k delta^L = lr_k dC_k/dz^L (K, n_L, m) of every network, for targets y (m, n_L)."""
        delta = np.empty_like(z)
        for s, loss in self.losses:
            zt = z[s].transpose(0, 2, 1)  # the losses take examples first: (K, m, n_L)
            delta[s] = (loss.delta(loss.output(zt), y) * self.lr[s, None, None]).transpose(0, 2, 1)
        return delta

    def losses_of(self, z: np.ndarray, y: np.ndarray) -> np.ndarray:
        """C_k (K,) of every network's logits z (K, n_L, m) against targets y (m, n_L)."""
        return np.concatenate([loss.fn(z[s].transpose(0, 2, 1), y) for s, loss in self.losses])

    def sgd_step(self, x: np.ndarray, y: np.ndarray) -> None:
        """One step for every network k on the batch (x, y): the backprop of scratch.Network on
        columns, batched over k, and the update of scratch.sgd.SGD in terms of u = lr_k v."""
        *activations, z = self.forward(x)
        delta = self.output_delta(z, y)  # lr_k delta^L: every gradient below comes times lr_k
        for l in range(len(self.weights) - 1, 0, -1):
            delta = self.layer_step(l, activations[l], delta)
        self.first_layer_step(np.ascontiguousarray(x), delta)

    def layer_step(self, l: int, a: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """The step of layer l > 0, from the activations a^(l-1) = a (K, n_in, m) and lr_k delta^l
        (K, n_out, m); returns lr_k delta^(l-1)."""
        nabla_w = delta @ a.transpose(0, 2, 1)  # (K, n_out, m) x (K, m, n_in)
        nabla_b = delta.sum(axis=2)
        below = (self.weights[l].transpose(0, 2, 1) @ delta) * self.hidden_prime(a)
        if self.weight_decay is not None:
            nabla_w += (self.lr * self.weight_decay)[:, None, None] * self.weights[l]
        if self.velocity is not None:
            nabla_w = self.accumulate(self.velocity[0][l], nabla_w, self.momentum)
            nabla_b = self.accumulate(self.velocity[1][l], nabla_b, self.momentum[:, :, 0])
        self.weights[l] -= nabla_w
        self.biases[l] -= nabla_b
        return below

    def first_layer_step(self, x: np.ndarray, delta: np.ndarray) -> None:
        """The step of layer 1 from the batch x (m, n_0) and lr_k delta^1 (K, n_1, m), the gradient
        never written out alone: with B = W_1 (no momentum) or the velocity u, viewed as the
        column-major (n_0, K n_1) matrix B^T,

            B^T <- B^T + s x^T (lr delta^1)^T     (n_0, m) x (m, K n_1), one gemm, in place

        with s = -1 for W_1, s = +1 for u (then W_1 <- W_1 - u). L2 decay scales W_1 by
        (1 - lr_k wd_k) first, or is added to u, as in layer_step."""
        w = self.weights[0]
        k, n_out, n_in = w.shape
        lr_delta = np.ascontiguousarray(delta).reshape(k * n_out, -1)  # (K n_1, m)
        decay = (self.lr * self.weight_decay)[:, None, None] if self.weight_decay is not None else None
        if self.velocity is None:
            if decay is not None:
                w *= 1.0 - decay
            target, sign = w, -1.0
        else:
            target, sign = self.velocity[0][0], 1.0
            target *= self.momentum
            if decay is not None:
                target += decay * w
        moved = self.gemm(sign, x.T, lr_delta.T, beta=1.0, c=target.reshape(k * n_out, n_in).T, overwrite_c=1)
        if not np.shares_memory(moved, target):  # BLAS must update in place, or W_1 would not train
            raise RuntimeError("gemm wrote a copy instead of updating W_1 in place")
        if self.velocity is not None:
            w -= target
            self.biases[0] -= self.accumulate(self.velocity[1][0], delta.sum(axis=2), self.momentum[:, :, 0])
        else:
            self.biases[0] -= delta.sum(axis=2)

    @staticmethod
    def accumulate(u: np.ndarray, g: np.ndarray, momentum: np.ndarray) -> np.ndarray:
        """u <- mu u + g, in place."""
        u *= momentum
        u += g
        return u

    def end_epoch(self) -> None:
        """lr_k <- gamma_k lr_k, and the velocities u = lr_k v with it."""
        self.lr *= self.lr_decay
        if self.velocity is not None:
            for u in self.velocity[0]:
                u *= self.lr_decay[:, None, None]
            for u in self.velocity[1]:
                u *= self.lr_decay[:, None]


def train(stack: StackedNetwork, x: np.ndarray, labels: np.ndarray,
          batches: Iterable[list[np.ndarray]]) -> Iterator[int]:
    """scratch.train for a stack: every network visits the given mini-batches."""
    y = one_hot(labels, x.dtype)
    for epoch, batches_of_epoch in enumerate(batches, 1):
        # a saturated sigmoid unit overflows e^-z to inf on its way to the right value 0:
        # numpy's warning of it is silenced once an epoch rather than in every call
        with np.errstate(over="ignore"):
            for batch in batches_of_epoch:
                stack.sgd_step(x[batch], y[batch])
        stack.end_epoch()
        yield epoch


def evaluate(stack: StackedNetwork, x: np.ndarray, labels: np.ndarray,
             chunk: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """(loss C, accuracy) of every network over the whole set, each (K,), `chunk` examples at a
    time: a layer's activations then take K n_l chunk numbers (4.6 MB for 36 x 16 x 2000 in float32)."""
    y = one_hot(labels, x.dtype)
    loss = np.zeros(len(stack))
    correct = np.zeros(len(stack))
    with np.errstate(over="ignore"):
        for k in range(0, len(x), chunk):
            z = stack.logits(x[k:k + chunk])  # (K, 10, chunk)
            loss += stack.losses_of(z, y[k:k + chunk]) * z.shape[2]
            correct += (z.argmax(axis=1) == labels[k:k + chunk]).sum(axis=1)
    return loss / len(x), correct / len(x)
