"""The three costs written with torch's own functions, equal to scratch.losses by definition.

z: logits (m, 10); y: one-hot targets (m, 10). Every cost is averaged over the m examples;
torch's mean reductions would also divide by the 10 outputs, so sums are divided by m.
For a stack of K networks, z is (K, m, 10) and the result is the sum of the K costs, whose
gradient with respect to each network's parameters is that network's own gradient.
"""
import torch
import torch.nn.functional as F


def mse(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """C = 1/(2m) sum ||sigmoid(z) - y||^2."""
    return 0.5 * F.mse_loss(torch.sigmoid(z), y.expand_as(z), reduction="sum") / z.shape[-2]


def bce(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """C = -1/m sum [y ln a + (1 - y) ln(1 - a)], a = sigmoid(z), from the logits."""
    return F.binary_cross_entropy_with_logits(z, y.expand_as(z), reduction="sum") / z.shape[-2]


def ce(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """C = -1/m sum ln softmax(z)_label."""
    if z.dim() == 3:  # (K, m, 10): classes on axis 1 for cross_entropy, labels (K, m)
        labels = y.argmax(dim=-1).expand(z.shape[:-1])
        return F.cross_entropy(z.transpose(1, 2), labels, reduction="sum") / z.shape[-2]
    return F.cross_entropy(z, y.argmax(dim=1))


LOSSES = {"mse": mse, "bce": bce, "ce": ce}
