"""RunConfig: one training run, the unit of the grid and of every CSV row.

`run_id` hashes the configuration without `impl` and `device`, so the scratch and torch
runs of one configuration (and the same run on cpu and cuda) share it.
"""
import hashlib
import json
import math
from dataclasses import asdict, dataclass, fields

import numpy as np

from experiments.data import DATASETS, DEFAULT_VAL_SIZE, TRAIN_SIZES
from experiments.errors import UsageError
from scratch.activations import ACTIVATIONS
from scratch.init import INITS, default_init
from scratch.losses import LOSSES

IMPLS = ("scratch", "torch")
DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("float32", "float64")
ENGINES = ("batched", "compiled", "single")  # how a grid trains its runs (experiments.runner.units)


@dataclass(frozen=True)
class RunConfig:
    impl: str = "scratch"                  # scratch (numpy) | torch (autograd twin)
    device: str = "cpu"                    # cpu | cuda | auto; the scratch network always runs on cpu
    dataset: str = "sample"                # sample | mnist | fashion-mnist
    sizes: tuple[int, ...] = (784, 16, 16, 10)  # neurons per layer, input first; written 784-16-16-10
    activation: str = "sigmoid"            # hidden activation: sigmoid | relu
    loss: str = "mse"                      # mse | bce | ce (see scratch.losses)
    lr: float = 3.0                        # learning rate (eta in the book)
    batch_size: int = 10                   # mini-batch size m
    epochs: int = 30                       # passes over the training set
    seed: int = 0                          # seeds the initial weights and the mini-batches
    init: str = "auto"                     # normal | lecun | he | auto (lecun for sigmoid, he for relu)
    dtype: str = "float64"                 # float32 | float64
    val_size: int | str = "auto"           # images held out of training for validation; auto: DEFAULT_VAL_SIZE
    l2: float = 0.0                        # L2 strength lambda: C = C_0 + lambda/(2n) sum_w w^2
    momentum: float = 0.0                  # mu: v <- mu v + grad, W <- W - lr v
    lr_decay: float = 1.0                  # gamma: epoch t (from 0) trains with lr gamma^t

    def resolved(self) -> "RunConfig":
        """Validated, with `auto` values replaced by what they stand for."""
        validate(self)
        init = default_init(self.activation) if self.init == "auto" else self.init
        val_size = DEFAULT_VAL_SIZE[self.dataset] if self.val_size == "auto" else int(self.val_size)
        return RunConfig(**{**asdict(self), "init": init, "sizes": tuple(self.sizes), "val_size": val_size,
                            **{k: float(getattr(self, k)) + 0.0 for k in FLOATS}})  # -0.0 is 0.0

    @property
    def run_id(self) -> str:
        c = self.resolved()
        key = {k: v for k, v in sorted(asdict(c).items()) if k not in ("impl", "device")}
        key["sizes"] = list(key["sizes"])
        return hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]

    def row(self) -> dict:
        """The configuration as CSV columns (sizes written 784-16-16-10)."""
        d = asdict(self.resolved())
        d["sizes"] = format_sizes(d["sizes"])
        return d


FIELDS = {f.name: f for f in fields(RunConfig)}
FLOATS = ("lr", "l2", "momentum", "lr_decay")
CHOICES = {"impl": IMPLS, "device": DEVICES, "dataset": DATASETS, "activation": tuple(ACTIVATIONS),
           "loss": tuple(LOSSES), "init": ("auto", *INITS), "dtype": DTYPES}
# (test, what it must be) of each numeric field
RANGES = {
    "lr": (lambda v: 0 < v < math.inf, "> 0 and finite"),
    "l2": (lambda v: 0 <= v < math.inf, ">= 0 and finite"),
    "momentum": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "lr_decay": (lambda v: 0 < v <= 1, "in (0, 1]"),
}


def format_sizes(sizes) -> str:
    """(784, 16, 16, 10) -> 784-16-16-10, the one spelling of sizes in flags, grids and tables."""
    return "-".join(map(str, sizes))


def parse_sizes(text: str) -> tuple[int, ...]:
    """784-16-16-10 -> (784, 16, 16, 10); raises ValueError for anything else."""
    sizes = tuple(int(n) for n in text.strip().split("-"))
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(text)
    return sizes


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_field(key: str, value) -> None:
    """Raise UsageError if one configuration value is out of range, naming it and the valid ones."""
    if key in CHOICES and value not in CHOICES[key]:
        raise UsageError(f"unknown {key} {value!r}; choose from {', '.join(CHOICES[key])}")
    if key in RANGES:
        ok, what = RANGES[key]
        if not (is_number(value) and ok(value)):
            raise UsageError(f"{key} must be {what}, got {value!r}")
    if key in ("batch_size", "epochs") and not (is_int(value) and value >= 1):
        raise UsageError(f"{key} must be >= 1 (an integer), got {value!r}")
    if key == "seed" and not (is_int(value) and 0 <= value < 2 ** 32):
        raise UsageError(f"seed must be an integer in [0, 2**32), got {value!r}")
    if key == "val_size" and not (value == "auto" or (is_int(value) and value >= 0)):
        raise UsageError(f"val_size must be auto or an integer >= 0, got {value!r}")
    if key == "sizes":
        sizes = tuple(value)
        if len(sizes) < 2 or not all(is_int(n) and n >= 1 for n in sizes) or sizes[0] != 784 or sizes[-1] != 10:
            raise UsageError(f"sizes {format_sizes(sizes)} do not fit MNIST; they must start with 784 "
                             "and end with 10, e.g. 784-16-16-10")


def validate(c: RunConfig) -> None:
    """Raise UsageError naming the first bad value and what would be valid."""
    for key in FIELDS:
        check_field(key, getattr(c, key))
    if c.impl == "scratch" and c.device == "cuda":
        raise UsageError("device 'cuda' applies to impl torch only; the scratch network runs on cpu")
    if c.dtype == "float32":  # the numbers the network computes with must exist in its dtype
        for key in FLOATS:
            value = getattr(c, key)
            if value != 0 and not float(np.finfo(np.float32).tiny) <= abs(value) <= float(np.finfo(np.float32).max):
                raise UsageError(f"{key} {value!r} is not a number float32 can hold (1.2e-38 to 3.4e38); choose "
                                 f"another {key} or dtype float64")
    val_size = DEFAULT_VAL_SIZE[c.dataset] if c.val_size == "auto" else c.val_size
    train_size = TRAIN_SIZES[c.dataset] - val_size
    if train_size < 1:
        raise UsageError(f"val_size {val_size} leaves no training images of the {TRAIN_SIZES[c.dataset]} "
                         f"of {c.dataset}; choose a smaller val_size")
    if c.batch_size > train_size:
        raise UsageError(f"batch_size {c.batch_size} is larger than the {train_size} training images of "
                         f"{c.dataset} (with {val_size} held out for validation); choose a smaller batch_size")
