"""The 3Blue1Brown / Nielsen MNIST network written from scratch in NumPy.

Nothing in this package imports torch: every derivative is written out by hand.
"""
from scratch.activations import ACTIVATIONS
from scratch.losses import LOSSES
from scratch.init import INITS, default_init
from scratch.network import Network
from scratch.train import epoch_order, evaluate, train

__all__ = ["ACTIVATIONS", "LOSSES", "INITS", "default_init", "Network",
           "epoch_order", "evaluate", "train"]
