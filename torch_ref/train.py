"""Mini-batch SGD with autograd and torch.optim.SGD, on the batches the scratch network sees.

The epoch order comes from scratch.train.epoch_order with the caller's numpy generator, so
the twin visits the training set in the same order on every device.
"""
from typing import Iterator

import numpy as np
import torch

from scratch.train import epoch_order
from torch_ref.losses import LOSSES
from torch_ref.network import TwinNet


def to_tensors(x: np.ndarray, labels: np.ndarray, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Images as they are and labels as one-hot rows of the same dtype, on `device`."""
    xt = torch.from_numpy(x).to(device)
    yt = torch.nn.functional.one_hot(torch.from_numpy(labels).long(), 10).to(device=device, dtype=xt.dtype)
    return xt, yt


def train(model: TwinNet, x: np.ndarray, labels: np.ndarray, epochs: int, batch_size: int,
          lr: float, rng: np.random.Generator) -> Iterator[int]:
    """Run `epochs` epochs of SGD, yielding each finished epoch's number (1-based)."""
    device = next(model.parameters()).device
    xt, yt = to_tensors(x, labels, device)
    cost = LOSSES[model.loss]
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    n = len(x)
    for epoch in range(1, epochs + 1):
        order = torch.from_numpy(epoch_order(rng, n)).to(device)
        for k in range(0, n, batch_size):
            batch = order[k:k + batch_size]  # gathered per mini-batch, as in scratch.train
            optimizer.zero_grad(set_to_none=True)
            cost(model(xt.index_select(0, batch)), yt.index_select(0, batch)).backward()
            optimizer.step()
        yield epoch


@torch.no_grad()
def evaluate(model: TwinNet, x: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(cost C over the whole set, fraction of examples whose largest output is the label)."""
    device = next(model.parameters()).device
    xt, yt = to_tensors(x, labels, device)
    z = model(xt)
    acc = (z.argmax(dim=1) == yt.argmax(dim=1)).double().mean()
    return float(LOSSES[model.loss](z, yt)), float(acc)
