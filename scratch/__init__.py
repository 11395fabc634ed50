"""The 3Blue1Brown / Nielsen MNIST network written from scratch in NumPy.

Nothing in this package imports torch: every derivative is written out by hand.
"""
from scratch.activations import ACTIVATIONS
from scratch.init import INITS, default_init
from scratch.losses import LOSSES
from scratch.network import Network
from scratch.sgd import SGD
from scratch.train import evaluate, minibatches, one_hot, train

__all__ = ["ACTIVATIONS", "INITS", "LOSSES", "SGD", "Network", "default_init", "evaluate", "minibatches",
           "one_hot", "train"]
