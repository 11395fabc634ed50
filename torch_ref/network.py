"""TwinNet: nn.Linear layers of the given sizes, hidden activation sigmoid or relu.

forward returns the output logits z^L; the cost (torch_ref.losses) applies the output
activation it assumes, exactly as scratch.losses does.
"""
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

ACTIVATIONS = {"sigmoid": torch.sigmoid, "relu": torch.relu}
DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str) -> torch.device:
    """`auto` -> cuda when available, else cpu. Raises ValueError for unknown or absent devices."""
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; choose from {', '.join(DEVICES)}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' asked for but CUDA is not available here; use --device cpu or auto")
    return torch.device(device)


class TwinNet(nn.Module):
    def __init__(self, sizes: list[int], activation: str = "sigmoid", loss: str = "mse",
                 dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu"):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Linear(n_in, n_out, dtype=dtype, device=device) for n_in, n_out in zip(sizes[:-1], sizes[1:]))
        self.activation = ACTIVATIONS[activation]
        self.activation_name = activation
        self.loss = loss

    @classmethod
    def from_scratch(cls, net, device: torch.device | str = "cpu") -> "TwinNet":
        """An exact copy of a scratch.Network: same sizes, activation, cost and parameters."""
        dtype = getattr(torch, str(net.dtype))
        twin = cls(net.sizes, net.activation.name, net.loss.name, dtype, device)
        with torch.no_grad():
            for layer, w, b in zip(twin.layers, net.weights, net.biases):
                layer.weight.copy_(torch.from_numpy(w))  # both (n_out, n_in): no transpose
                layer.bias.copy_(torch.from_numpy(b))
        return twin

    def forward(self, x: torch.Tensor, layers: list | None = None) -> torch.Tensor:
        """Logits z^L (m, n_L) of the examples x (m, n_0). layers: (W_l, b_l) pairs to compute
        with instead of the model's own (torch.func.grad differentiates with respect to them)."""
        if layers is None:
            layers = [(layer.weight, layer.bias) for layer in self.layers]
        # F.linear is what each nn.Linear computes; called directly, it spares a module call
        # per layer (~5 us each on a 2-core machine, a noticeable part of a step at batch 10)
        *hidden, (w, b) = layers
        for w_l, b_l in hidden:
            x = self.activation(F.linear(x, w_l, b_l))
        return F.linear(x, w, b)

    def numpy_params(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        weights = [layer.weight.detach().cpu().numpy().copy() for layer in self.layers]
        biases = [layer.bias.detach().cpu().numpy().copy() for layer in self.layers]
        return weights, biases
