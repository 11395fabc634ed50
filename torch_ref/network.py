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


def mps_available() -> bool:
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def resolve_device(device: str, dtype: str = "float32") -> torch.device:
    """cpu, cuda, cuda:N or mps as a torch.device; `auto` is the best one present for `dtype`:
    cuda, else mps (float32 only), else cpu. Raises ValueError for a device that is not here."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if mps_available() and dtype == "float32" else "cpu")
    try:
        found = torch.device(device)
    except RuntimeError:
        raise ValueError(f"unknown device {device!r}; choose from auto, cpu, cuda, cuda:N, mps") from None
    if found.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"device {device!r} asked for but CUDA is not available here; use --device cpu or auto")
        if (found.index or 0) >= count:
            raise ValueError(f"device {device!r} asked for but this machine has {count} CUDA device(s), "
                             f"cuda:0 to cuda:{count - 1}")
    elif found.type == "mps" and not mps_available():
        raise ValueError(f"device {device!r} asked for but Apple's MPS is not available here; use --device cpu or "
                         "auto")
    elif found.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unknown device {device!r}; choose from auto, cpu, cuda, cuda:N, mps")
    return found


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

    @classmethod
    def load(cls, path, device: torch.device | str = "cpu") -> "TwinNet":
        """The network of a parameter file (.npz, no pickle: W1, b1, W2, ..., activation, loss),
        in the dtype of its arrays. Raises ValueError for a file that is not one."""
        with np.load(path, allow_pickle=False) as f:
            layers = len([k for k in f.files if k.startswith("W")])
            needed = [f"{t}{l}" for l in range(1, layers + 1) for t in "Wb"] + ["activation", "loss"]
            missing = [key for key in needed if key not in f.files]
            if layers == 0 or missing:
                raise ValueError(f"{path} is not a parameter file: it lacks {', '.join(missing or ['W1'])}")
            weights = [f[f"W{l}"] for l in range(1, layers + 1)]
            biases = [f[f"b{l}"] for l in range(1, layers + 1)]
            activation, loss = str(f["activation"]), str(f["loss"])
        return cls.from_params(weights, biases, activation, loss, device)

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
