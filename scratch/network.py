"""A fully connected network, the one of 3Blue1Brown's videos and Nielsen's book.

`sizes` lists the neurons per layer, input first: [784, 16, 16, 10] has 784 input pixels,
two hidden layers of 16 and 10 outputs, 13,002 parameters. A mini-batch of m examples is
a matrix with one example per row, and layer l computes

    z^l = a^(l-1) W_l^T + b_l        (m, n_in) x (n_in, n_out) + (n_out,) -> (m, n_out)
    a^l = f(z^l)

with weights W_l of shape (n_out, n_in), as nn.Linear stores them, and biases b_l of shape
(n_out,); a^0 = x. Hidden layers use the activation f (scratch.activations); the output
layer's activation belongs to the loss (scratch.losses), which also gives delta^L.

Backpropagation is the four equations of Nielsen's chapter 2, for the whole mini-batch at
once (one row of delta^l per example; * is the elementwise product):

    (BP1)  delta^L = dC/dz^L                         the loss's delta(a^L, y)
    (BP2)  delta^l = (delta^(l+1) W_(l+1)) * f'(z^l)  (m, n_(l+1)) x (n_(l+1), n_l) -> (m, n_l)
    (BP3)  dC/db_l = sum over the m rows of delta^l   (n_l,)
    (BP4)  dC/dW_l = delta^l^T a^(l-1)                (n_l, m) x (m, n_(l-1)) -> (n_l, n_(l-1))

and a step of gradient descent is W_l <- W_l - lr dC/dW_l, b_l <- b_l - lr dC/db_l, where
lr is the learning rate (eta in the book).
"""
import numpy as np

from scratch.activations import ACTIVATIONS
from scratch.init import INITS
from scratch.losses import LOSSES


class Network:
    def __init__(self, weights: list[np.ndarray], biases: list[np.ndarray],
                 activation: str = "sigmoid", loss: str = "mse"):
        """A network holding copies of the given W_l (n_out, n_in) and b_l (n_out,)."""
        self.weights = [np.array(w) for w in weights]
        self.biases = [np.array(b) for b in biases]
        self.sizes = [self.weights[0].shape[1]] + [w.shape[0] for w in self.weights]
        self.activation = ACTIVATIONS[activation]
        self.loss = LOSSES[loss]

    @classmethod
    def create(cls, sizes: list[int], activation: str = "sigmoid", loss: str = "mse",
               init: str = "lecun", rng: np.random.Generator | None = None,
               dtype: str = "float64") -> "Network":
        """Draw every weight and bias from `rng` with the scheme `init` (scratch.init)."""
        rng = rng if rng is not None else np.random.default_rng(0)
        layers = [INITS[init](rng, n_out, n_in) for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)]
        return cls([w.astype(dtype) for w, _ in layers], [b.astype(dtype) for _, b in layers], activation, loss)

    @classmethod
    def load(cls, path) -> "Network":
        """The network of a parameter file (.npz, no pickle: W1, b1, W2, ..., activation, loss),
        in the dtype of its arrays. Raises ValueError for a file that is not one."""
        with np.load(path, allow_pickle=False) as f:
            layers = len([k for k in f.files if k.startswith("W")])
            needed = [f"{t}{l}" for l in range(1, layers + 1) for t in "Wb"] + ["activation", "loss"]
            missing = [key for key in needed if key not in f.files]
            if layers == 0 or missing:
                raise ValueError(f"{path} is not a parameter file: it lacks {', '.join(missing or ['W1'])}")
            weights = [f[f"W{l}"] for l in range(1, layers + 1)]
            biases = [f[f"b{l}"] for l in range(1, layers + 1)]
            return cls(weights, biases, str(f["activation"]), str(f["loss"]))

    @property
    def dtype(self) -> np.dtype:
        return self.weights[0].dtype

    def num_params(self) -> int:
        return sum(w.size + b.size for w, b in zip(self.weights, self.biases, strict=True))

    def forward(self, x: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Every weighted input z^l (l = 1 ... L) and activation a^l (l = 0 ... L; a^0 = x)."""
        zs, activations = [], [x]
        for l, (w, b) in enumerate(zip(self.weights, self.biases, strict=True), 1):
            z = activations[-1] @ w.T + b  # (m, n_in) x (n_in, n_out) -> (m, n_out)
            zs.append(z)
            activations.append(self.loss.output(z) if l == len(self.weights) else self.activation.fn(z))
        return zs, activations

    def logits(self, x: np.ndarray) -> np.ndarray:
        """z^L (m, n_L) alone, keeping no layer but the one being computed."""
        a = x
        for w, b in zip(self.weights[:-1], self.biases[:-1], strict=True):
            a = self.activation.fn(a @ w.T + b)
        return a @ self.weights[-1].T + self.biases[-1]

    def backprop(self, x: np.ndarray, y: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """(dC/dW_l, dC/db_l) for every layer, shaped like the weights and biases, where C is the
        loss averaged over the mini-batch x (m, n_0) with one-hot targets y (m, n_L)."""
        zs, activations = self.forward(x)
        nabla_w, nabla_b = [None] * len(self.weights), [None] * len(self.biases)
        delta = self.loss.delta(activations[-1], y)  # BP1: delta^L (m, n_L)
        for l in reversed(range(len(self.weights))):  # layer l + 1 of the book, W_(l+1) = self.weights[l]
            nabla_b[l] = delta.sum(axis=0)  # BP3
            nabla_w[l] = delta.T @ activations[l]  # BP4: (n_out, m) x (m, n_in) -> (n_out, n_in)
            if l > 0:
                delta = (delta @ self.weights[l]) * self.activation.prime(zs[l - 1])  # BP2
        return nabla_w, nabla_b

    def sgd_step(self, x: np.ndarray, y: np.ndarray, lr: float) -> None:
        """One step of gradient descent on the mini-batch: W <- W - lr dC/dW, b <- b - lr dC/db."""
        nabla_w, nabla_b = self.backprop(x, y)
        for w, b, nw, nb in zip(self.weights, self.biases, nabla_w, nabla_b, strict=True):
            w -= lr * nw
            b -= lr * nb
