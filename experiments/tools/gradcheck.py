"""Gradient verification: scratch backprop against torch autograd and central differences.

For every activation x loss, on random weights and a random batch of m examples, the
gradient of C = C_0 + lambda/(2n) sum_w w^2 (scratch.sgd.gradient; lambda = l2, n = m here):
  reference `torch`:              autograd of the twin on an exact copy of the network;
  reference `finite_difference`:  (C(w + h) - C(w - h)) / 2h on a random subset of entries,
                                  skipping entries whose +-h crosses a ReLU kink.
rel_err = ||g - g_ref|| / ||g_ref|| per tensor, over the entries compared. A difference
quotient carries its own rounding error, about eps |C| / h per entry (eps the dtype's machine
epsilon), which outgrows a gradient that vanishes through many layers; the tolerance against
it is TOLERANCES plus NOISE times that error, relative to ||g_ref||.
"""
from dataclasses import dataclass

import numpy as np
import torch

from scratch import ACTIVATIONS, LOSSES, Network, default_init
from scratch.sgd import gradient, l2_penalty
from torch_ref import LOSSES as TORCH_LOSSES
from torch_ref import TwinNet

# (torch, finite_difference) tolerances on rel_err, and the step h, per dtype
TOLERANCES = {"float64": {"torch": 1e-10, "finite_difference": 1e-6},
              "float32": {"torch": 1e-4, "finite_difference": 5e-2}}
STEP = {"float64": 1e-6, "float32": 1e-2}
NOISE = 100  # rounding error of a difference quotient, in units of eps |C| / h (C's roundings add up)


@dataclass
class Check:
    activation: str
    loss: str
    l2: float
    dtype: str
    param: str
    reference: str
    max_abs_err: float
    rel_err: float
    tolerance: float
    entries: int  # entries compared (all of them against torch; none where every step crossed a ReLU kink)

    @property
    def passed(self) -> bool:
        return self.rel_err <= self.tolerance


def param_names(net: Network) -> list[str]:
    return [f"{kind}{l}" for l in range(1, len(net.weights) + 1) for kind in "Wb"]


def tensors(net: Network) -> list[np.ndarray]:
    return [t for w, b in zip(net.weights, net.biases, strict=True) for t in (w, b)]


def total_loss(net: Network, x: np.ndarray, y: np.ndarray, l2: float) -> float:
    """C = C_0 + lambda/(2n) sum_w w^2, with n the m examples of the batch."""
    return float(net.loss.fn(net.logits(x), y)) + l2_penalty(net.weights, l2, len(x))


def relu_pattern(net: Network, x: np.ndarray) -> list[np.ndarray]:
    return [z > 0 for z in net.forward(x)[0][:-1]]


def finite_difference(net: Network, x, y, l2: float, tensor: np.ndarray, index, h: float) -> float | None:
    """Central difference of C in one entry, or None where +-h changes which ReLUs are on."""
    saved = tensor[index]
    tensor[index] = saved + h
    plus, pattern_plus = total_loss(net, x, y, l2), relu_pattern(net, x)
    tensor[index] = saved - h
    minus, pattern_minus = total_loss(net, x, y, l2), relu_pattern(net, x)
    tensor[index] = saved
    if net.activation.name == "relu" and any((p != m).any() for p, m in zip(pattern_plus, pattern_minus, strict=True)):
        return None
    return (plus - minus) / (2 * h)


def torch_gradients(net: Network, x: np.ndarray, y: np.ndarray, l2: float) -> list[np.ndarray]:
    """Autograd's gradient of the same C, on the twin."""
    twin = TwinNet.from_params(net.weights, net.biases, net.activation.name, net.loss.name)
    weights, biases = twin.weights_and_biases()
    loss = TORCH_LOSSES[net.loss.name](twin(torch.from_numpy(x)), torch.from_numpy(y))
    loss = loss + l2 / (2 * len(x)) * sum((w * w).sum() for w in weights)
    loss.backward()
    return [p.grad.numpy() for w, b in zip(weights, biases, strict=True) for p in (w, b)]


def errors(g: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    diff = np.asarray(g, dtype=np.float64) - np.asarray(ref, dtype=np.float64)
    norm = np.linalg.norm(ref)
    return float(np.abs(diff).max()), float(np.linalg.norm(diff) / norm if norm > 0 else np.linalg.norm(diff))


def check(activation: str, loss: str, dtype: str = "float64", sizes=(784, 16, 16, 10), l2: float = 0.0,
          batch: int = 8, entries: int = 20, seed: int = 0) -> list[Check]:
    rng = np.random.default_rng(seed)
    net = Network.create(list(sizes), activation, loss, default_init(activation), rng, dtype)
    x = rng.random((batch, sizes[0])).astype(dtype)
    y = np.eye(sizes[-1], dtype=dtype)[rng.integers(0, sizes[-1], batch)]
    nabla_w, nabla_b = gradient(net, x, y, l2, batch)
    grads = [g for pair in zip(nabla_w, nabla_b, strict=True) for g in pair]
    tol = TOLERANCES[dtype]
    cost = total_loss(net, x, y, l2)
    results = []
    for name, tensor, g, tg in zip(param_names(net), tensors(net), grads, torch_gradients(net, x, y, l2), strict=True):
        results.append(Check(activation, loss, l2, dtype, name, "torch", *errors(g, tg), tol["torch"], g.size))
        ours, fds = [], []
        for flat in rng.permutation(tensor.size)[: 4 * entries]:
            index = np.unravel_index(flat, tensor.shape)
            fd = finite_difference(net, x, y, l2, tensor, index, STEP[dtype])
            if fd is not None:
                ours.append(g[index])
                fds.append(fd)
            if len(fds) == entries:
                break
        noise = NOISE * np.finfo(dtype).eps * max(abs(cost), 1.0) / STEP[dtype] * np.sqrt(len(fds))
        scale = np.linalg.norm(fds)
        results.append(Check(activation, loss, l2, dtype, name, "finite_difference",
                             *(errors(np.array(ours), np.array(fds)) if fds else (0.0, 0.0)),
                             tol["finite_difference"] + (noise / scale if scale > 0 else noise), len(fds)))
    return results


def check_all(dtype: str = "float64", sizes=(784, 16, 16, 10), seed: int = 0, l2s=(0.0, 1.0)) -> list[Check]:
    """Every activation x loss, without and with an L2 term."""
    return [r for activation in ACTIVATIONS for loss in LOSSES for l2 in l2s
            for r in check(activation, loss, dtype, sizes, l2, seed=seed)]
