"""TwinNet: nn.Linear layers of the given sizes, hidden activation sigmoid or relu.

forward returns the output logits z^L; the loss (torch_ref.losses) applies the output
activation it assumes, as scratch.losses does. The weights are the caller's
(TwinNet.from_params): the layers are made without drawing any (nn.utils.skip_init), so that
no randomness comes from torch's global generator.
"""
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from torch_ref.losses import LOSSES

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
        self.layers = nn.ModuleList(nn.utils.skip_init(nn.Linear, n_in, n_out, dtype=dtype, device=device)
                                    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True))
        self.activation = ACTIVATIONS[activation]
        self.loss = LOSSES[loss]  # C(z, y) of the logits

    @classmethod
    def from_params(cls, weights: list[np.ndarray], biases: list[np.ndarray], activation: str = "sigmoid",
                    loss: str = "mse", device: torch.device | str = "cpu") -> "TwinNet":
        """A network holding copies of the given W_l (n_out, n_in) and b_l (n_out,), of their dtype."""
        sizes = [weights[0].shape[1]] + [w.shape[0] for w in weights]
        twin = cls(sizes, activation, loss, getattr(torch, weights[0].dtype.name), device)
        with torch.no_grad():
            for layer, w, b in zip(twin.layers, weights, biases, strict=True):
                layer.weight.copy_(torch.from_numpy(np.asarray(w)))  # both (n_out, n_in): no transpose
                layer.bias.copy_(torch.from_numpy(np.asarray(b)))
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

    def weights_and_biases(self) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        return [layer.weight for layer in self.layers], [layer.bias for layer in self.layers]

    def numpy_params(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        weights, biases = self.weights_and_biases()
        return [w.detach().cpu().numpy().copy() for w in weights], [b.detach().cpu().numpy().copy() for b in biases]
