"""Mini-batch SGD with autograd, torch.optim.SGD and ExponentialLR, on the caller's mini-batches.

The caller gives the mini-batches as one list of index arrays per epoch, so that the twin
visits the training set in the order the scratch network does, on every device.
"""
from typing import Iterable, Iterator

import numpy as np
import torch

from torch_ref.compiled import compile_step
from torch_ref.images import Images, as_images, epoch_index, one_hot
from torch_ref.network import TwinNet


class EagerSGD:
    """torch.optim.SGD, L2 as `weight_decay` on the weights' parameter group only, and
    torch.optim.lr_scheduler.ExponentialLR stepped once an epoch."""

    def __init__(self, model: TwinNet, images: Images, yt: torch.Tensor, lr: float, weight_decay: float,
                 momentum: float, lr_decay: float):
        self.model, self.images, self.yt, self.loss = model, images, yt, model.loss
        weights, biases = model.weights_and_biases()
        self.optimizer = torch.optim.SGD([{"params": weights, "weight_decay": weight_decay},
                                          {"params": biases, "weight_decay": 0.0}], lr=lr, momentum=momentum)
        self.scheduler = torch.optim.lr_scheduler.ExponentialLR(self.optimizer, gamma=lr_decay)

    def step(self, index: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        self.loss(self.model(self.images.batch(index)), self.yt.index_select(0, index)).backward()
        self.optimizer.step()

    def end_epoch(self) -> None:
        self.scheduler.step()


class CompiledSGD:
    """The same step as one torch.compile graph: the gradient by torch.func.grad, then
    torch.optim.SGD's update written out (g = dC/dW + wd W; v <- mu v + g; W <- W - lr v).
    The learning rate is a tensor that the graph reads, so that its decay compiles nothing anew."""

    def __init__(self, model: TwinNet, images: Images, yt: torch.Tensor, lr: float, weight_decay: float,
                 momentum: float, lr_decay: float):
        loss = model.loss
        weights, biases = model.weights_and_biases()
        params = [p.detach() for p in weights + biases]  # the parameters' own memory
        n = len(weights)
        velocity = [torch.zeros_like(p) for p in params] if momentum else None
        self.lr_value, self.lr_decay = lr, lr_decay
        self.lr = torch.tensor(lr, dtype=params[0].dtype, device=params[0].device)

        def loss_of(params: list[torch.Tensor], xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
            return loss(model(xb, list(zip(params[:n], params[n:], strict=True))), yb)

        def step(index: torch.Tensor) -> None:
            grads = torch.func.grad(loss_of)(params, images.batch(index), yt.index_select(0, index))
            if weight_decay:
                grads = [g + weight_decay * p for g, p in zip(grads[:n], params[:n], strict=True)] + grads[n:]
            if velocity is not None:
                torch._foreach_mul_(velocity, momentum)
                torch._foreach_add_(velocity, grads)
                grads = velocity
            torch._foreach_sub_(params, torch._foreach_mul(grads, self.lr))
        self.step = compile_step(step)

    def end_epoch(self) -> None:
        self.lr_value *= self.lr_decay  # the recurrence ExponentialLR computes
        self.lr.fill_(self.lr_value)


def train(model: TwinNet, x, labels: np.ndarray, batches: Iterable[list[np.ndarray]], lr: float,
          l2: float = 0.0, momentum: float = 0.0, lr_decay: float = 1.0, compiled: bool = False) -> Iterator[int]:
    """SGD over the epochs of `batches` (index arrays into x), yielding each finished epoch's
    number (1-based). x: a float array (n, n_0), or Images. l2: lambda of the L2 term
    lambda/(2n) sum_w w^2, n = len(x); momentum mu; lr_decay gamma (lr gamma^t in epoch t).

    compiled: each step goes through torch.compile as one graph (CompiledSGD); the numbers are
    the same up to rounding."""
    device = next(model.parameters()).device
    images = as_images(x, device)
    yt = one_hot(labels, images.dtype, device)
    sgd = (CompiledSGD if compiled else EagerSGD)(model, images, yt, lr, l2 / len(images), momentum, lr_decay)
    for epoch, batches_of_epoch in enumerate(batches, 1):
        for index in epoch_index(batches_of_epoch, device):
            sgd.step(index)
        sgd.end_epoch()
        yield epoch


@torch.no_grad()
def evaluate(model: TwinNet, x, labels: np.ndarray, chunk: int = 2000) -> tuple[float, float]:
    """(loss C over the whole set, fraction of examples whose largest output is the label),
    `chunk` examples at a time."""
    device = next(model.parameters()).device
    images = as_images(x, device)
    yt = one_hot(labels, images.dtype, device)
    loss, correct = 0.0, 0
    for start, rows in images.chunks(chunk):
        z = model(rows)
        y = yt[start:start + chunk]
        loss += float(model.loss(z, y)) * len(y)
        correct += int((z.argmax(dim=1) == y.argmax(dim=1)).sum())
    return loss / len(images), correct / len(images)
