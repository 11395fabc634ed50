"""The torch.nn twin of the scratch network: same weights, same batches, autograd gradients.

Nothing here imports the scratch package or the experiments: the caller hands both twins the
same initial weights and the same mini-batches.
"""
from torch_ref.images import Images
from torch_ref.losses import LOSSES
from torch_ref.network import TwinNet, resolve_device
from torch_ref.train import evaluate, train

__all__ = ["LOSSES", "Images", "TwinNet", "resolve_device", "evaluate", "train"]
