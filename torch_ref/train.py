"""Mini-batch SGD with autograd and torch.optim.SGD, on the batches the scratch network sees.

The epoch order comes from scratch.train.epoch_order with the caller's numpy generator, so
the twin visits the training set in the same order on every device.
"""
from typing import Iterator

import numpy as np
import torch

from scratch.train import epoch_order
from torch_ref.compiled import compile_step
from torch_ref.losses import LOSSES
from torch_ref.network import TwinNet


class Images:
    """The images x on `device`, read by rows as float tensors of x's dtype. x is a float array,
    kept as it is, or pixels kept uint8 (x.images, read in x.dtype, as experiments.data.Pixels),
    scaled to [0, 1] as their rows are read: the numbers of the scaled array, a quarter
    (float32) of its memory on the device."""

    def __init__(self, x, device):
        pixels = getattr(x, "images", None)
        self.data = torch.from_numpy(pixels if pixels is not None else x).to(device)
        self.dtype = getattr(torch, np.dtype(x.dtype).name)
        # a 0-dim tensor, not the number: CUDA divides by a number as a product with its reciprocal
        self.scale = torch.tensor(255, dtype=self.dtype, device=device) if pixels is not None else None

    def __len__(self) -> int:
        return len(self.data)

    def scaled(self, rows: torch.Tensor) -> torch.Tensor:
        return rows if self.scale is None else rows.to(self.dtype).div_(self.scale)

    def batch(self, index: torch.Tensor) -> torch.Tensor:
        """The rows at `index` (a mini-batch)."""
        return self.scaled(self.data.index_select(0, index))

    def chunks(self, size: int):
        """(start, rows) for consecutive runs of `size` rows."""
        for start in range(0, len(self.data), size):
            yield start, self.scaled(self.data[start:start + size])


def one_hot(labels: np.ndarray, dtype: torch.dtype, device) -> torch.Tensor:
    """(m,) integer labels -> (m, 10) rows of the identity, on `device`."""
    return torch.nn.functional.one_hot(torch.from_numpy(labels).long(), 10).to(device=device, dtype=dtype)


def train(model: TwinNet, x: np.ndarray, labels: np.ndarray, epochs: int, batch_size: int,
          lr: float, rng: np.random.Generator, compiled: bool = False) -> Iterator[int]:
    """Run `epochs` epochs of SGD, yielding each finished epoch's number (1-based).

    compiled: each step (gradient by torch.func.grad, and SGD's update) goes through
    torch.compile as one graph (torch_ref.compiled); the numbers are the same up to rounding."""
    device = next(model.parameters()).device
    images = Images(x, device)
    yt = one_hot(labels, images.dtype, device)
    step = (compiled_sgd_step if compiled else sgd_step)(model, lr, images, yt)
    n = len(x)
    for epoch in range(1, epochs + 1):
        order = torch.from_numpy(epoch_order(rng, n)).to(device)
        for k in range(0, n, batch_size):
            step(order[k:k + batch_size])  # the batch gathered per mini-batch, as in scratch.train
        yield epoch


def sgd_step(model: TwinNet, lr: float, images: Images, yt: torch.Tensor):
    """step(batch): one step of torch.optim.SGD on the examples at `batch`, autograd's backward."""
    cost = LOSSES[model.loss]
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)

    def step(batch: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        cost(model(images.batch(batch)), yt.index_select(0, batch)).backward()
        optimizer.step()
    return step


def compiled_sgd_step(model: TwinNet, lr: float, images: Images, yt: torch.Tensor):
    """sgd_step as one compiled function: grad C by torch.func.grad, then W <- W - lr grad C,
    the update of torch.optim.SGD without momentum (its foreach form), in place."""
    cost = LOSSES[model.loss]
    params = [p.detach() for p in model.parameters()]  # W_1, b_1, W_2, ...: the parameters' own memory

    def cost_of(params: list[torch.Tensor], xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        return cost(model(xb, list(zip(params[0::2], params[1::2]))), yb)

    def step(batch: torch.Tensor) -> None:
        grads = torch.func.grad(cost_of)(params, images.batch(batch), yt.index_select(0, batch))
        torch._foreach_add_(params, grads, alpha=-lr)
    return compile_step(step)


@torch.no_grad()
def evaluate(model: TwinNet, x: np.ndarray, labels: np.ndarray, chunk: int = 2000) -> tuple[float, float]:
    """(cost C over the whole set, fraction of examples whose largest output is the label),
    `chunk` examples at a time."""
    device = next(model.parameters()).device
    images = Images(x, device)
    yt = one_hot(labels, images.dtype, device)
    cost, correct = 0.0, 0
    for start, rows in images.chunks(chunk):
        z = model(rows)
        y = yt[start:start + chunk]
        cost += float(LOSSES[model.loss](z, y)) * len(y)
        correct += int((z.argmax(dim=1) == y.argmax(dim=1)).sum())
    return cost / len(images), correct / len(images)
