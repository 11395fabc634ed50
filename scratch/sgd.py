"""Stochastic gradient descent with the refinements of Nielsen's chapter 3 (network2.py).

    L2 regularisation (l2 = lambda >= 0): the loss gains a term over the weights (not the
        biases), n being the size of the training set,
            C = C_0 + lambda/(2n) sum_w w^2,   so   dC/dW = dC_0/dW + (lambda/n) W,
        and a plain step is W <- (1 - lr lambda/n) W - lr dC_0/dW, as in network2.py.
    momentum (mu in [0, 1)): a velocity v per parameter, torch.optim.SGD's form (no
        dampening, no Nesterov); v starts at 0, so the first step is a plain one:
            v <- mu v + dC/dtheta,   theta <- theta - lr v.
    learning-rate decay (lr_decay = gamma in (0, 1]): epoch t (from 0) uses lr gamma^t; the
        training loop multiplies lr by gamma after every epoch, as
        torch.optim.lr_scheduler.ExponentialLR does.

With l2 = 0 and momentum = 0 a step is Network.sgd_step's W <- W - lr dC/dW.
"""
import numpy as np

from scratch.network import Network


def l2_penalty(weights: list[np.ndarray], l2: float, n: int) -> float:
    """lambda/(2n) sum_w w^2 over every weight (the biases are not regularised)."""
    return l2 / (2 * n) * sum(float(np.sum(w * w)) for w in weights)


def gradient(net: Network, x: np.ndarray, y: np.ndarray, l2: float = 0.0,
             n: int = 1) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(dC/dW_l, dC/db_l) of C = C_0 + l2_penalty: backprop's dC_0, plus (lambda/n) W_l."""
    nabla_w, nabla_b = net.backprop(x, y)
    if l2:
        nabla_w = [nw + l2 / n * w for nw, w in zip(nabla_w, net.weights, strict=True)]
    return nabla_w, nabla_b


class SGD:
    def __init__(self, net: Network, lr: float, l2: float = 0.0, n: int = 1, momentum: float = 0.0):
        """Steps for `net` with learning rate lr, L2 strength l2 over a training set of n
        examples, and momentum mu."""
        self.net, self.lr, self.l2, self.n, self.momentum = net, lr, l2, n, momentum
        self.velocity = [np.zeros_like(p) for p in net.weights + net.biases] if momentum else None

    def step(self, x: np.ndarray, y: np.ndarray) -> None:
        """One step on the mini-batch (x, y): theta <- theta - lr v, v = mu v + dC/dtheta."""
        nabla_w, nabla_b = gradient(self.net, x, y, self.l2, self.n)
        params, grads = self.net.weights + self.net.biases, nabla_w + nabla_b
        if self.velocity is None:
            for p, g in zip(params, grads, strict=True):
                p -= self.lr * g
            return
        for p, g, v in zip(params, grads, self.velocity, strict=True):
            v *= self.momentum
            v += g
            p -= self.lr * v
