"""The torch twin of scratch.batched: K networks of one shape on the same mini-batches, autograd.

Parameters W_l (K, n_out, n_in) and b_l (K, n_out); batches are rows, as for nn.Linear:
activations (K, m, n_l). The first layer of all K networks is one matrix product with the
batch x (m, n_0) they share (addmm, W_1 read in the order it is stored in), the others one
batched product each (baddbmm):

    (z^1)^T = W_1 x^T + b_1        (K n_1, n_0) x (n_0, m) -> (K n_1, m) -> (K, m, n_1)
    z^l = a^(l-1) W_l^T + b_l      (K, m, n_in) x (K, n_in, n_out) -> (K, m, n_out)

Each hidden activation is applied to the whole stack and kept where a network uses it
(torch.where), each loss to the run of adjacent networks that use it (split). Autograd
differentiates the weighted sum sum_k lr_k C_k, whose gradient with respect to network k's
parameters is lr_k dC_k/dW: one update then steps every network with its own learning rate.

The first layer's weights, by far the largest array, are moved as few times as the math allows
(the eager step): autograd gives the gradient with respect to z^1 = lr_k delta^1, and one addmm_
adds the step to W_1 in place, W_1 <- W_1 - (lr delta^1)^T x, the gradient never written out
on its own. At batch 10 that product is bound by memory, not arithmetic (docs/performance.md).
"""
from itertools import groupby
from typing import Iterable, Iterator

import numpy as np
import torch
from torch import nn

from torch_ref.compiled import compile_step
from torch_ref.images import Images, as_images, epoch_index, one_hot
from torch_ref.losses import LOSSES
from torch_ref.network import ACTIVATIONS


def runs(items: list) -> list[tuple[object, int]]:
    """(item, length) of every run of equal adjacent items: [a, a, b] -> [(a, 2), (b, 1)]."""
    return [(item, len(list(run))) for item, run in groupby(items)]


class StackedTwin(nn.Module):
    def __init__(self, weights: list[np.ndarray], biases: list[np.ndarray], activations: list[str],
                 losses: list[str], device: torch.device | str = "cpu"):
        """From stacked numpy parameters W_l (K, n_out, n_in), b_l (K, n_out) (copied), and
        each network's activation and loss by name; networks of one loss must be adjacent."""
        super().__init__()
        self.weights = nn.ParameterList(nn.Parameter(torch.tensor(w, device=device)) for w in weights)
        self.biases = nn.ParameterList(nn.Parameter(torch.tensor(b, device=device)) for b in biases)
        # each activation f with the mask (K, 1, 1) of the networks that use it
        self.activations = [(ACTIVATIONS[name], torch.tensor([a == name for a in activations],
                                                              device=device)[:, None, None])
                            for name in dict.fromkeys(activations)]
        self.losses = [(LOSSES[name], length) for name, length in runs(losses)]
        if len(self.losses) != len(set(losses)):
            raise ValueError("networks of one loss must be adjacent in a stack")
        self.layers = list(zip(self.weights, self.biases, strict=True))  # plain list: indexing a ParameterList is slow

    def __len__(self) -> int:
        return len(self.weights[0])

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
        first, *rest = self.layers if layers is None else layers
        return self.above(self.first(x, *first), rest)

    @staticmethod
    def first(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """(z^1)^T (K n_1, m) of the examples x (m, n_0): one addmm for every network, W_1 read in
        the order it is stored in (K n_1, n_0) x (n_0, m)."""
        k, n_out, n_in = w.shape
        return torch.addmm(b.reshape(k * n_out, 1), w.reshape(k * n_out, n_in), x.T)

    def above(self, z1t: torch.Tensor, layers: list) -> torch.Tensor:
        """z^L (K, m, n_L) from (z^1)^T (K n_1, m), through the other layers (W_l, b_l)."""
        k = len(self)
        z = z1t.view(k, -1, z1t.shape[1]).transpose(1, 2)  # (K, n_1, m) -> (K, m, n_1)
        for w, b in layers:
            z = torch.baddbmm(b[:, None, :], self.hidden(z), w.transpose(1, 2))  # (K, m, n_in) x (K, n_in, n_out)
        return z

    def losses_of(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Every network's loss C_k (K,), for logits z (K, m, n_L) and targets y (m, n_L)."""
        parts = z.split([length for _, length in self.losses])
        return torch.cat([loss(part, y) for part, (loss, _) in zip(parts, self.losses, strict=True)])

    def numpy_params(self, k: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        return ([w[k].detach().cpu().numpy().copy() for w in self.weights],
                [b[k].detach().cpu().numpy().copy() for b in self.biases])


class StackedSGD:
    """Every network k's SGD step with its own lr_k, L2 weight decay wd_k = lambda_k/n, momentum
    mu_k and decay gamma_k, in the form of torch.optim.SGD. The gradients come scaled, as
    lr_k dC_k/dW, so the velocity kept is u = lr_k v:

        G = lr_k (dC_k/dW + wd_k W);   u <- mu_k u + G;   W <- W - u;
        after an epoch: lr_k <- gamma_k lr_k, u <- gamma_k u.

    compiled: the step (gather, forward, torch.func.grad, update) is one torch.compile graph."""

    def __init__(self, model: StackedTwin, images: Images, yt: torch.Tensor, lr, weight_decay, momentum, lr_decay,
                 compiled: bool = False):
        p0 = model.weights[0]

        def per_network(values) -> torch.Tensor:
            return torch.tensor(np.array(values, dtype=np.float64), device=p0.device).to(p0.dtype)

        self.lr, self.lr_decay = per_network(lr), per_network(lr_decay)
        self.weight_decay = per_network(weight_decay) if np.any(weight_decay) else None
        self.momentum = per_network(momentum) if np.any(momentum) else None
        self.decay = (self.lr * self.weight_decay) if self.weight_decay is not None else None  # lr_k wd_k
        # eager: the parameters, for autograd; compiled: their own memory, for torch.func.grad
        self.params = [p if not compiled else p.detach() for p in (*model.weights, *model.biases)]
        self.velocity = [torch.zeros_like(p) for p in self.params] if self.momentum is not None else None
        self.n_layers = len(model.weights)
        self.model, self.images, self.yt = model, images, yt
        self.step = compile_step(self.compiled_step) if compiled else self.eager_step

    def weighted_loss(self, xb: torch.Tensor, yb: torch.Tensor, layers: list | None = None) -> torch.Tensor:
        """sum_k lr_k C_k, whose gradient holds lr_k dC_k/dW for every network k; layers: (W_l, b_l)
        to compute with instead of the model's own."""
        return self.lr @ self.model.losses_of(self.model(xb, layers), yb)

    def weighted_loss_of(self, params: list[torch.Tensor], xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        """weighted_loss as a function of the parameters W_1, ..., b_1, ..., for torch.func.grad."""
        n = self.n_layers
        return self.weighted_loss(xb, yb, list(zip(params[:n], params[n:], strict=True)))

    def update(self, grads: list[torch.Tensor], first: int = 0) -> None:
        """The SGD step of every layer from `first` (0-based) on: grads holds their lr_k dC_k/dW_l,
        then their lr_k dC_k/db_l."""
        n, k = self.n_layers, len(self.lr)
        chosen = [*range(first, n), *range(n + first, 2 * n)]
        params = [self.params[i] for i in chosen]
        grads = list(grads)
        if self.decay is not None:
            layers = n - first
            grads = [g + self.decay.view(k, 1, 1) * w for g, w in zip(grads[:layers], params[:layers], strict=True)] \
                + grads[layers:]
        if self.velocity is not None:
            velocity = [self.velocity[i] for i in chosen]
            for v, g in zip(velocity, grads, strict=True):
                v.mul_(self.momentum.view(k, *[1] * (v.dim() - 1))).add_(g)
            grads = velocity
        torch._foreach_sub_(params, grads)

    def eager_step(self, index: torch.Tensor) -> None:
        """Autograd of sum_k lr_k C_k with respect to z^1 and the layers above it; then the update
        of the layers above, and the first layer's step fused with its gradient."""
        xb, yb = self.images.batch(index), self.yt.index_select(0, index)
        w1, b1 = self.model.layers[0]
        z1t = self.model.first(xb, w1.detach(), b1.detach()).requires_grad_()
        above = self.model.layers[1:]
        loss = self.lr @ self.model.losses_of(self.model.above(z1t, above), yb)
        lr_delta, *grads = torch.autograd.grad(loss, [z1t, *(w for w, _ in above), *(b for _, b in above)])
        with torch.no_grad():
            self.update(grads, first=1)
            self.first_layer_step(xb, lr_delta)

    def first_layer_step(self, x: torch.Tensor, lr_delta: torch.Tensor) -> None:
        """W_1 (or its velocity u) <- itself -+ (lr delta^1)^T x, one addmm_ in place (beta = 1):
        (K n_1, m) x (m, n_0), lr_delta the gradient with respect to (z^1)^T (K n_1, m). L2 decay
        scales W_1 by (1 - lr_k wd_k) first, or is added to u."""
        w, b = self.params[0], self.params[self.n_layers]
        k = len(self.lr)
        flat = w.view(k * w.shape[1], -1)  # (K n_1, n_0)
        grad_b = lr_delta.sum(1).view_as(b)
        if self.velocity is None:
            if self.decay is not None:
                w.mul_(1 - self.decay.view(k, 1, 1))
            flat.addmm_(lr_delta, x, alpha=-1)
            b.sub_(grad_b)
            return
        u, v = self.velocity[0], self.velocity[self.n_layers]
        u.mul_(self.momentum.view(k, 1, 1))
        if self.decay is not None:
            u.add_(self.decay.view(k, 1, 1) * w)
        u.view_as(flat).addmm_(lr_delta, x)
        w.sub_(u)
        b.sub_(v.mul_(self.momentum.view(k, 1)).add_(grad_b))

    def compiled_step(self, index: torch.Tensor) -> None:
        xb, yb = self.images.batch(index), self.yt.index_select(0, index)
        grads = torch.func.grad(self.weighted_loss_of)(self.params, xb, yb)
        self.update(grads)

    def end_epoch(self) -> None:
        self.lr.mul_(self.lr_decay)
        if self.decay is not None:
            torch.mul(self.lr, self.weight_decay, out=self.decay)
        if self.velocity is not None:
            k = len(self.lr)
            for v in self.velocity:
                v.mul_(self.lr_decay.view(k, *[1] * (v.dim() - 1)))


def train(model: StackedTwin, x, labels: np.ndarray, batches: Iterable[list[np.ndarray]], lr, l2=0.0,
          momentum=0.0, lr_decay=1.0, compiled: bool = False) -> Iterator[int]:
    """torch_ref.train for a stack: lr, l2, momentum and lr_decay per network, each (K,) (or one
    value for all); every network sees the given mini-batches. compiled: each step goes through
    torch.compile as one graph (a C++ compiler is needed); the numbers are the same up to rounding."""
    device = model.weights[0].device
    images = as_images(x, device)
    yt = one_hot(labels, images.dtype, device)
    k = len(model)
    lr, l2, momentum, lr_decay = (np.broadcast_to(np.asarray(v, dtype=np.float64), (k,)) for v in (lr, l2, momentum,
                                                                                                  lr_decay))
    sgd = StackedSGD(model, images, yt, lr, l2 / len(images), momentum, lr_decay, compiled)
    for epoch, batches_of_epoch in enumerate(batches, 1):
        for index in epoch_index(batches_of_epoch, device):
            sgd.step(index)
        sgd.end_epoch()
        yield epoch


@torch.no_grad()
def evaluate(model: StackedTwin, x, labels: np.ndarray, chunk: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """(loss C, accuracy) of every network over the whole set, each (K,), `chunk` examples at a
    time: a layer's activations then take K n_l chunk numbers (4.6 MB for 36 x 16 x 2000 in float32)."""
    device = model.weights[0].device
    images = as_images(x, device)
    yt = one_hot(labels, images.dtype, device)
    k = len(model)
    total = torch.zeros(k, dtype=torch.float64, device=device)
    correct = torch.zeros(k, dtype=torch.float64, device=device)
    for start, rows in images.chunks(chunk):
        z = model(rows)  # (K, chunk, 10)
        y = yt[start:start + chunk]
        total += model.losses_of(z, y) * len(y)
        correct += (z.argmax(dim=2) == y.argmax(dim=1)).sum(dim=1)
    return (total / len(images)).cpu().numpy(), (correct / len(images)).cpu().numpy()
