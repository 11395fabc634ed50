"""A network written the way Nielsen's network.py is, for the tests, and copies of it with planted bugs.

As in the book, `sizes` lists the neurons per layer, input first; an example is a pair of
column vectors x (n_0, 1), y (n_L, 1); weights[l] has shape (n_out, n_in) and biases[l]
(n_out, 1); every layer is sigmoid; one example's cost is the quadratic C_x = 1/2 ||a^L - y||^2.
backprop(x, y) returns (nabla_b, nabla_w) of that one example, and update_mini_batch averages
over the mini-batch: W <- W - eta/m sum_x nabla_w.

Unlike the book, the numbers come from a seeded np.random.default_rng: W ~ N(0, 1/n_in)
(network2.py's default_weight_initializer, so that no unit starts saturated), b ~ N(0, 1).

backprop is the four equations of chapter 2, one method each, so that a planted bug is the
override of one of them (layer l = 1 ... L, W^l = weights[l-1]; * is the elementwise product):
  output_error     BP1  delta^L = dC/da^L * sigma'(z^L)
  hidden_error     BP2  delta^l = ((W^(l+1))^T delta^(l+1)) * sigma'(z^l)
  bias_gradient    BP3  dC/db^l = delta^l
  weight_gradient  BP4  dC/dW^l = delta^l (a^(l-1))^T       (n_l, 1) x (1, n_(l-1))
"""
import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    return sigmoid(z) * (1 - sigmoid(z))


class Network:
    def __init__(self, sizes, seed=0):
        rng = np.random.default_rng(seed)
        self.sizes = sizes
        self.biases = [rng.standard_normal((n, 1)) for n in sizes[1:]]
        self.weights = [rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)
                        for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)]

    def feedforward(self, a):
        """a^L (n_L, 1) of the input a (n_0, 1)."""
        for b, w in zip(self.biases, self.weights, strict=True):
            a = sigmoid(np.dot(w, a) + b)
        return a

    def update_mini_batch(self, mini_batch, eta):
        """One step of gradient descent on a list of (x, y) pairs: W <- W - eta/m sum_x nabla_w."""
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        for x, y in mini_batch:
            delta_nabla_b, delta_nabla_w = self.backprop(x, y)
            nabla_b = [nb + dnb for nb, dnb in zip(nabla_b, delta_nabla_b, strict=True)]
            nabla_w = [nw + dnw for nw, dnw in zip(nabla_w, delta_nabla_w, strict=True)]
        self.weights = [w - (eta / len(mini_batch)) * nw for w, nw in zip(self.weights, nabla_w, strict=True)]
        self.biases = [b - (eta / len(mini_batch)) * nb for b, nb in zip(self.biases, nabla_b, strict=True)]

    def backprop(self, x, y):
        """(nabla_b, nabla_w): the gradient of C_x, layer by layer, shaped like biases and weights."""
        activation, activations, zs = x, [x], []
        for b, w in zip(self.biases, self.weights, strict=True):
            z = np.dot(w, activation) + b
            zs.append(z)
            activation = sigmoid(z)
            activations.append(activation)
        layers = len(self.weights)
        nabla_b, nabla_w = [None] * layers, [None] * layers
        delta = self.output_error(zs[-1], activations[-1], y)
        for l in range(layers, 0, -1):  # W^l = self.weights[l - 1], a^(l-1) = activations[l - 1]
            if l < layers:
                delta = self.hidden_error(self.weights[l], delta, zs[l - 1], l)
            nabla_b[l - 1] = self.bias_gradient(delta)
            nabla_w[l - 1] = self.weight_gradient(delta, activations[l - 1])
        return nabla_b, nabla_w

    def cost_derivative(self, output_activations, y):
        """dC_x/da^L = a^L - y."""
        return output_activations - y

    def output_error(self, z, a, y):
        return self.cost_derivative(a, y) * sigmoid_prime(z)

    def hidden_error(self, w_next, delta_next, z, l):
        return np.dot(w_next.transpose(), delta_next) * sigmoid_prime(z)

    def bias_gradient(self, delta):
        return delta

    def weight_gradient(self, delta, a_prev):
        return np.dot(delta, a_prev.transpose())


class CrossEntropyNetwork(Network):
    """network2.py's CrossEntropyCost, C_x = -sum_j [y_j ln a_j + (1 - y_j) ln(1 - a_j)]: its
    delta^L = a - y, the sigma'(z^L) of the quadratic cost cancelled."""

    def output_error(self, z, a, y):
        return a - y


# ---------------------------------------------------------------- planted bugs

class SigmaPrimeDropped(Network):
    """BP2 without sigma'(z^1) in layer 1: dC/dW1 and dC/db1 are wrong, the rest right."""

    def hidden_error(self, w_next, delta_next, z, l):
        if l == 1:
            return np.dot(w_next.transpose(), delta_next)
        return super().hidden_error(w_next, delta_next, z, l)


class TransposedWeightGradient(Network):
    """BP4 as a^(l-1) delta^T: every nabla_w transposed; W2 (16, 16) keeps its shape."""

    def weight_gradient(self, delta, a_prev):
        return np.dot(a_prev, delta.transpose())


class ForgottenBiasGradient(Network):
    """nabla_b left at zero."""

    def bias_gradient(self, delta):
        return np.zeros(delta.shape)


class FlatBiasGradient(Network):
    """nabla_b of shape (n,), not the biases' (n, 1): nb + dnb would broadcast to (n, n)."""

    def bias_gradient(self, delta):
        return delta.ravel()


class DoubledCost(Network):
    """dC/da = 2 (a - y): the derivative of ||a - y||^2, the 1/2 of C_x forgotten."""

    def cost_derivative(self, output_activations, y):
        return 2 * (output_activations - y)


class SignFlipped(Network):
    """dC/da = y - a."""

    def cost_derivative(self, output_activations, y):
        return y - output_activations


class UpdateWithoutOneOverM(Network):
    """backprop right, but the update W <- W - eta sum_x nabla_w, without the 1/m."""

    def update_mini_batch(self, mini_batch, eta):
        super().update_mini_batch(mini_batch, eta * len(mini_batch))


class FeedforwardForgetsLastBias(Network):
    """backprop right, but feedforward computes a^L = sigma(W^L a^(L-1)) without b^L."""

    def feedforward(self, a):
        for b, w in zip(self.biases[:-1], self.weights[:-1], strict=True):
            a = sigmoid(np.dot(w, a) + b)
        return sigmoid(np.dot(self.weights[-1], a))


def error_times_output(a, y):
    return np.dot(a - y, y)  # (10, 1) x (10, 1): numpy refuses


class BackpropRaises(Network):
    """BP1 written with np.dot where * was meant: backprop raises ValueError, three frames deep."""

    def output_error(self, z, a, y):
        return error_times_output(a, y) * sigmoid_prime(z)
