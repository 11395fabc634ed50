"""A network in the rows convention (scratch.Network's), written for the tests, and copies of it with planted bugs.

A mini-batch of m examples is a matrix, one example per row: x (m, n_0), one-hot y (m, n_L).
weights[l] has shape (n_out, n_in), biases[l] (n_out,); layer l computes
z^l = a^(l-1) W_l^T + b_l, and a^l = f(z^l) with f sigmoid or ReLU in the hidden layers. The
output and the cost are either
  mse  a^L = sigmoid(z^L),  C = 1/(2m) sum_x ||a^L - y||^2,   delta^L = (a - y) a (1 - a) / m
  ce   a^L = softmax(z^L),  C = -1/m sum_x y . ln a^L,        delta^L = (a - y) / m
forward(x) returns a^L (m, n_L); backprop(x, y) returns (nabla_w, nabla_b), the gradient of
the AVERAGE C; step(x, y, lr) is W <- W - lr dC/dW. The numbers come from a seeded
np.random.default_rng: W ~ N(0, 1/n_in), b = 0.
"""
import numpy as np

HIDDEN = {  # f and f'
    "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda z: np.exp(-z) / (1 + np.exp(-z)) ** 2),
    "relu": (lambda z: np.maximum(z, 0), lambda z: (z > 0).astype(float)),
}


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class Network:
    def __init__(self, sizes, hidden="sigmoid", output="mse", seed=0):
        rng = np.random.default_rng(seed)
        self.weights = [rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)
                        for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)]
        self.biases = [np.zeros(n_out) for n_out in sizes[1:]]
        self.f, self.f_prime = HIDDEN[hidden]
        self.output = output

    def layers(self, x):
        """Every z^l (m, n_l) and a^l (a^0 = x)."""
        zs, activations = [], [x]
        for l, (w, b) in enumerate(zip(self.weights, self.biases, strict=True), 1):
            zs.append(activations[-1] @ w.T + b)  # (m, n_in) x (n_in, n_out) -> (m, n_out)
            last = l == len(self.weights)
            activations.append(self.out(zs[-1]) if last else self.f(zs[-1]))
        return zs, activations

    def out(self, z):
        return softmax(z) if self.output == "ce" else 1 / (1 + np.exp(-z))

    def forward(self, x):
        return self.layers(x)[1][-1]

    def output_error(self, a, y):
        """delta^L = dC/dz^L, the 1/m of the average included."""
        m = len(a)
        return (a - y) / m if self.output == "ce" else (a - y) * a * (1 - a) / m

    def weight_gradient(self, delta, a_prev, l):
        return delta.T @ a_prev  # (n_l, m) x (m, n_(l-1))

    def backprop(self, x, y):
        zs, activations = self.layers(x)
        layers = len(self.weights)
        nabla_w, nabla_b = [None] * layers, [None] * layers
        delta = self.output_error(activations[-1], y)
        for l in range(layers, 0, -1):  # W_l = self.weights[l - 1]
            if l < layers:
                delta = (delta @ self.weights[l]) * self.f_prime(zs[l - 1])
            nabla_w[l - 1] = self.weight_gradient(delta, activations[l - 1], l)
            nabla_b[l - 1] = delta.sum(axis=0)
        return nabla_w, nabla_b

    def step(self, x, y, lr):
        nabla_w, nabla_b = self.backprop(x, y)
        self.weights = [w - lr * nw for w, nw in zip(self.weights, nabla_w, strict=True)]
        self.biases = [b - lr * nb for b, nb in zip(self.biases, nabla_b, strict=True)]


def relu_softmax(sizes):
    """ReLU hidden layers, softmax outputs with cross-entropy."""
    return Network(sizes, hidden="relu", output="ce")


# ---------------------------------------------------------------- planted bugs

class MissingOneOverM(Network):
    """delta^L without the 1/m: the gradient of the sum over the batch, not of the average."""

    def output_error(self, a, y):
        return super().output_error(a, y) * len(a)


class OneOverMTwice(Network):
    """delta^L divided by m once more."""

    def output_error(self, a, y):
        return super().output_error(a, y) / len(a)


class StrayConstant(Network):
    """delta^L times 0.9, a constant with no name."""

    def output_error(self, a, y):
        return 0.9 * super().output_error(a, y)


class TransposedSquare(Network):
    """BP4 transposed in layer 2 only, whose W (16, 16) is square: no shape gives it away."""

    def weight_gradient(self, delta, a_prev, l):
        return (delta.T @ a_prev).T if l == 2 else delta.T @ a_prev


class SwappedPair(Network):
    """backprop returns (nabla_b, nabla_w), Nielsen's order, in the rows convention."""

    def backprop(self, x, y):
        return tuple(reversed(super().backprop(x, y)))


class InputMajor:
    """Weights stored (n_in, n_out), as x @ W: the shapes fit neither convention."""

    def __init__(self, sizes):
        self.weights = [np.zeros((n_in, n_out)) for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)]
        self.biases = [np.zeros(n_out) for n_out in sizes[1:]]

    def backprop(self, x, y):
        return [np.zeros_like(w) for w in self.weights], [np.zeros_like(b) for b in self.biases]
