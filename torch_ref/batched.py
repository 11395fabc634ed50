"""The torch twin of scratch.batched: K networks of one shape as one stacked model, autograd.

Parameters W_l (K, n_out, n_in) and b_l (K, n_out); network k sees its own batch x[k], and
every layer is one batched matmul (bmm) for all K. The cost is the sum of the K networks'
costs, so one backward pass gives every network its own gradient. Each network's gradient
is scaled by its learning rate on the way back (a hook on the logits), so that the step
W <- W - eta_k dC_k/dW is one update of all parameters.
"""
from typing import Iterator

import numpy as np
import torch
from torch import nn

from scratch.train import epoch_order
from torch_ref.losses import LOSSES
from torch_ref.network import ACTIVATIONS
from torch_ref.train import to_tensors


class StackedTwin(nn.Module):
    def __init__(self, weights: list[np.ndarray], biases: list[np.ndarray], etas,
                 activation: str, loss: str, device: torch.device | str = "cpu"):
        """From stacked numpy parameters W_l (K, n_out, n_in), b_l (K, n_out) (copied)."""
        super().__init__()
        self.weights = nn.ParameterList(nn.Parameter(torch.tensor(w, device=device)) for w in weights)
        self.biases = nn.ParameterList(nn.Parameter(torch.tensor(b, device=device)) for b in biases)
        self.register_buffer("eta", torch.tensor(np.asarray(etas), dtype=self.weights[0].dtype, device=device))
        self.activation = ACTIVATIONS[activation]
        self.loss = loss
        self.layers = list(zip(self.weights, self.biases))  # plain list: indexing a ParameterList is slow

    @classmethod
    def from_scratch(cls, stack, device: torch.device | str = "cpu") -> "StackedTwin":
        """An exact copy of a scratch.batched.StackedNetwork."""
        return cls(stack.weights, stack.biases, stack.eta, stack.activation.name, stack.loss.name, device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (K, m, n_L) for batches x (K, m, n_0), or one set (m, n_0) seen by all K."""
        if x.dim() == 2:
            x = x.expand(len(self.eta), *x.shape)
        *hidden, (w_last, b_last) = self.layers
        for w, b in hidden:
            x = self.activation(torch.baddbmm(b[:, None, :], x, w.transpose(1, 2)))  # (K, m, n_in) x (K, n_in, n_out)
        return torch.baddbmm(b_last[:, None, :], x, w_last.transpose(1, 2))

    def numpy_params(self, k: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        return ([w[k].detach().cpu().numpy().copy() for w in self.weights],
                [b[k].detach().cpu().numpy().copy() for b in self.biases])


def train(model: StackedTwin, x: np.ndarray, labels: np.ndarray, epochs: int, batch_size: int,
          rngs: list[np.random.Generator]) -> Iterator[int]:
    """torch_ref.train for a stack: network k visits the set in the orders drawn from rngs[k]."""
    device = model.eta.device
    xt, yt = to_tensors(x, labels, device)
    cost = LOSSES[model.loss]
    params = list(model.weights) + list(model.biases)
    eta = model.eta.view(-1, 1, 1)
    n = len(x)
    for epoch in range(1, epochs + 1):
        orders = torch.from_numpy(np.stack([epoch_order(rng, n) for rng in rngs])).to(device)  # (K, n)
        for k in range(0, n, batch_size):
            batch = orders[:, k:k + batch_size]
            z = model(xt[batch])  # (K, m, n_L)
            z.register_hook(lambda g: g * eta)  # d(eta_k C_k)/dz: each network's step size
            grads = torch.autograd.grad(cost(z, yt[batch]), params)
            with torch.no_grad():
                torch._foreach_sub_(params, grads)
        yield epoch


@torch.no_grad()
def evaluate(model: StackedTwin, x: np.ndarray, labels: np.ndarray,
             chunk: int = 10000) -> tuple[np.ndarray, np.ndarray]:
    """(cost C, accuracy) of every network over the whole set, each (K,)."""
    xt, yt = to_tensors(x, labels, model.eta.device)
    cost = LOSSES[model.loss]
    k = len(model.eta)
    total = torch.zeros(k, dtype=torch.float64, device=xt.device)
    correct = torch.zeros(k, dtype=torch.float64, device=xt.device)
    for start in range(0, len(xt), chunk):
        z = model(xt[start:start + chunk])  # (K, chunk, 10)
        y = yt[start:start + chunk]
        total += torch.stack([cost(z[i], y) for i in range(k)]) * len(y)
        correct += (z.argmax(dim=2) == y.argmax(dim=1)).sum(dim=1)
    return (total / len(xt)).cpu().numpy(), (correct / len(xt)).cpu().numpy()
