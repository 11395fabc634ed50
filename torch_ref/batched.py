"""The torch twin of scratch.batched: K networks of one shape on the same mini-batches, autograd.

Parameters W_l (K, n_out, n_in) and b_l (K, n_out); batches are rows, as for nn.Linear:
activations (K, m, n_l). The first layer of all K networks is one matrix product with the
batch x (m, n_0) they share (addmm), the others one batched product each (baddbmm):

    z^1 = x W_1^T + b_1            (m, n_0) x (n_0, K n_1) -> (m, K n_1) -> (K, m, n_1)
    z^l = a^(l-1) W_l^T + b_l      (K, m, n_in) x (K, n_in, n_out) -> (K, m, n_out)

Each hidden activation is applied to the whole stack and kept where a network uses it
(torch.where), each cost to the run of adjacent networks that use it (split). Autograd
differentiates the weighted sum of the K costs, sum_k eta_k C_k, whose gradient with respect
to network k's parameters is eta_k dC_k/dW: the step W <- W - eta_k dC_k/dW of every network
is then one update of all parameters.
"""
from typing import Iterator

import numpy as np
import torch
from torch import nn

from scratch.batched import slices
from scratch.train import epoch_order
from torch_ref.compiled import compile_step
from torch_ref.losses import LOSSES
from torch_ref.network import ACTIVATIONS
from torch_ref.train import Images, one_hot


class StackedTwin(nn.Module):
    def __init__(self, weights: list[np.ndarray], biases: list[np.ndarray], etas,
                 activations: list[str], losses: list[str], device: torch.device | str = "cpu"):
        """From stacked numpy parameters W_l (K, n_out, n_in), b_l (K, n_out) (copied), and
        each network's activation and cost by name."""
        super().__init__()
        self.weights = nn.ParameterList(nn.Parameter(torch.tensor(w, device=device)) for w in weights)
        self.biases = nn.ParameterList(nn.Parameter(torch.tensor(b, device=device)) for b in biases)
        self.register_buffer("eta", torch.tensor(np.asarray(etas), dtype=self.weights[0].dtype, device=device))
        self.activations = [(ACTIVATIONS[name], torch.tensor([a == name for a in activations], device=device)[:, None, None])
                            for name in dict.fromkeys(activations)]  # (f, mask (K, 1, 1) of the networks using f)
        self.losses = [(LOSSES[name], s.stop - s.start) for s, name in slices(losses)]  # (cost, run length)
        self.layers = list(zip(self.weights, self.biases))  # plain list: indexing a ParameterList is slow

    @classmethod
    def from_scratch(cls, stack, device: torch.device | str = "cpu") -> "StackedTwin":
        """An exact copy of a scratch.batched.StackedNetwork."""
        activations = [next(f.name for f, uses in stack.activations if uses[k].item()) for k in range(len(stack))]
        losses = [loss.name for s, loss in stack.losses for _ in range(s.stop - s.start)]
        return cls(stack.weights, stack.biases, stack.eta, activations, losses, device)

    def hidden(self, z: torch.Tensor) -> torch.Tensor:
        """a = f_k(z_k) with each network's activation f_k."""
        (f, _), *others = self.activations
        a = f(z)
        for f, uses in others:
            a = torch.where(uses, f(z), a)
        return a

    def forward(self, x: torch.Tensor, layers: list | None = None) -> torch.Tensor:
        """Logits z^L (K, m, n_L) of every network for the examples x (m, n_0). layers: (W_l, b_l)
        pairs to compute with instead of the model's own (torch.func.grad differentiates with
        respect to them)."""
        (w, b), *rest = self.layers if layers is None else layers
        k, n_out, n_in = w.shape
        z = torch.addmm(b.reshape(1, k * n_out), x, w.reshape(k * n_out, n_in).T)  # (m, n_0) x (n_0, K n_1)
        z = z.view(-1, k, n_out).transpose(0, 1)  # (m, K, n_1) -> (K, m, n_1)
        for w, b in rest:
            z = torch.baddbmm(b[:, None, :], self.hidden(z), w.transpose(1, 2))  # (K, m, n_in) x (K, n_in, n_out)
        return z

    def costs(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Every network's cost C_k (K,), for logits z (K, m, n_L) and targets y (m, n_L)."""
        runs = z.split([n for _, n in self.losses])
        return torch.cat([loss(run, y) for run, (loss, _) in zip(runs, self.losses)])

    def numpy_params(self, k: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        return ([w[k].detach().cpu().numpy().copy() for w in self.weights],
                [b[k].detach().cpu().numpy().copy() for b in self.biases])


def train(model: StackedTwin, x: np.ndarray, labels: np.ndarray, epochs: int, batch_size: int,
          rng: np.random.Generator, compiled: bool = False) -> Iterator[int]:
    """torch_ref.train for a stack: every network visits the set in the orders drawn from rng.

    compiled: each step (gradient of sum_k eta_k C_k by torch.func.grad, and the update) goes
    through torch.compile as one graph (torch_ref.compiled), which fuses the stack's small
    operations into a few kernels (a C++ compiler is needed); the numbers are the same up to
    rounding."""
    device = model.eta.device
    images = Images(x, device)
    yt = one_hot(labels, images.dtype, device)
    step = (compiled_sgd_step if compiled else sgd_step)(model, images, yt)
    n = len(x)
    for epoch in range(1, epochs + 1):
        order = torch.from_numpy(epoch_order(rng, n)).to(device)
        for k in range(0, n, batch_size):
            step(order[k:k + batch_size])
        yield epoch


def weighted_cost(model: StackedTwin, xb: torch.Tensor, yb: torch.Tensor, layers: list | None = None) -> torch.Tensor:
    """sum_k eta_k C_k, whose gradient holds eta_k dC_k/dW for every network k."""
    return model.eta @ model.costs(model(xb, layers), yb)


def sgd_step(model: StackedTwin, images: Images, yt: torch.Tensor):
    """step(batch): W <- W - eta_k dC_k/dW for every network k, autograd's backward."""
    params = list(model.weights) + list(model.biases)

    def step(batch: torch.Tensor) -> None:
        grads = torch.autograd.grad(weighted_cost(model, images.batch(batch), yt.index_select(0, batch)), params)
        with torch.no_grad():
            torch._foreach_sub_(params, grads)
    return step


def compiled_sgd_step(model: StackedTwin, images: Images, yt: torch.Tensor):
    """sgd_step as one compiled function of the parameters, the gradient by torch.func.grad."""
    params = [p.detach() for p in (*model.weights, *model.biases)]  # the parameters' own memory
    n = len(model.weights)

    def cost_of(params: list[torch.Tensor], xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        return weighted_cost(model, xb, yb, list(zip(params[:n], params[n:])))

    def step(batch: torch.Tensor) -> None:
        grads = torch.func.grad(cost_of)(params, images.batch(batch), yt.index_select(0, batch))
        torch._foreach_sub_(params, grads)
    return compile_step(step)


@torch.no_grad()
def evaluate(model: StackedTwin, x: np.ndarray, labels: np.ndarray,
             chunk: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """(cost C, accuracy) of every network over the whole set, each (K,), `chunk` examples at a
    time: a layer's activations then take K n_l chunk numbers (4.6 MB for 36 x 16 x 2000 in float32)."""
    device = model.eta.device
    images = Images(x, device)
    yt = one_hot(labels, images.dtype, device)
    k = len(model.eta)
    total = torch.zeros(k, dtype=torch.float64, device=device)
    correct = torch.zeros(k, dtype=torch.float64, device=device)
    for start, rows in images.chunks(chunk):
        z = model(rows)  # (K, chunk, 10)
        y = yt[start:start + chunk]
        total += model.costs(z, y) * len(y)
        correct += (z.argmax(dim=2) == y.argmax(dim=1)).sum(dim=1)
    return (total / len(images)).cpu().numpy(), (correct / len(images)).cpu().numpy()
