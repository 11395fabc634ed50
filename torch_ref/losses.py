"""The three costs written with torch's own functions, equal to scratch.losses by definition.

z: logits (m, 10); y: one-hot targets (m, 10). Every cost is averaged over the m examples;
torch's mean reductions would also divide by the 10 outputs, so sums are divided by m.
"""
import torch
import torch.nn.functional as F


def mse(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """C = 1/(2m) sum ||sigmoid(z) - y||^2."""
    return 0.5 * F.mse_loss(torch.sigmoid(z), y, reduction="sum") / len(z)


def bce(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """C = -1/m sum [y ln a + (1 - y) ln(1 - a)], a = sigmoid(z), from the logits."""
    return F.binary_cross_entropy_with_logits(z, y, reduction="sum") / len(z)


def ce(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """C = -1/m sum ln softmax(z)_label."""
    return F.cross_entropy(z, y.argmax(dim=1))


LOSSES = {"mse": mse, "bce": bce, "ce": ce}
