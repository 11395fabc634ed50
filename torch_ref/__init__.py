"""The torch.nn twin of the scratch network: same weights, same batches, autograd gradients."""
from torch_ref.losses import LOSSES
from torch_ref.network import TwinNet, resolve_device
from torch_ref.train import evaluate, train

__all__ = ["LOSSES", "TwinNet", "resolve_device", "evaluate", "train"]
