"""The three losses written with torch's own functions, equal to scratch.losses by definition.

z: logits (m, 10); y: one-hot targets (m, 10). Every loss is averaged over the m examples;
torch's mean reductions would also divide by the 10 outputs, so sums are divided by m.
For a stack of K networks, z is (K, m, 10) and the result is the K networks' losses (K,).
"""
import torch
import torch.nn.functional as F


def per_network(terms: torch.Tensor) -> torch.Tensor:
    """Sum over the examples and outputs (the last two axes), divided by the m examples."""
    return terms.sum((-2, -1)) / terms.shape[-2]


def mse(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """C = 1/(2m) sum ||sigmoid(z) - y||^2."""
    return 0.5 * per_network(F.mse_loss(torch.sigmoid(z), y.expand_as(z), reduction="none"))


def bce(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """C = -1/m sum [y ln a + (1 - y) ln(1 - a)], a = sigmoid(z), from the logits."""
    return per_network(F.binary_cross_entropy_with_logits(z, y.expand_as(z), reduction="none"))


def ce(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """C = -1/m sum ln softmax(z)_label."""
    labels = y.argmax(dim=-1).expand(z.shape[:-1])
    per_example = F.cross_entropy(z.movedim(-1, 1), labels, reduction="none")  # classes on axis 1, as it takes them
    return per_example.sum(-1) / z.shape[-2]


LOSSES = {"mse": mse, "bce": bce, "ce": ce}
