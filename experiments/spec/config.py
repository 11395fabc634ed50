"""RunConfig: one training run, the unit of the grid and of every CSV row.

Each field carries its own metadata: what it is (`help`), what it may hold (`check`), and its
`role` in an experiment, from which the rest of the package derives its lists:

    impl       which twin trains it (scratch | torch)
    setting    what a run is made on (dataset, sizes, dtype, device, val_size): never pooled
    question   what the suite compares (activation, loss)
    knob       a hyperparameter a best configuration chooses (lr, l2, ...)
    seed       the seed, over which results are averaged

and `per_network`: whether the networks of one stack may differ in it (experiments.execution
trains configurations equal in every other field as one stacked model; a run of fewer epochs
than its stack is the first epochs of the stack's, since a run's mini-batches and learning rate
in epoch t do not depend on how many epochs follow).

A RunConfig is checked and resolved once, when it is made: `auto` values are replaced by what
they stand for (init: lecun for sigmoid, he for relu; val_size: the dataset's default; device:
cpu for the scratch network), and a bad value is a UsageError naming it. Its `run_id` hashes
every field but `impl` and `device`, so the scratch and torch runs of one configuration (and
the same run on cpu and cuda) share it; it is computed once.
"""
import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, fields
from functools import cached_property

import numpy as np

from experiments.data.datasets import DATASETS, DEFAULT_VAL_SIZE, TRAIN_SIZES
from experiments.errors import UsageError
from experiments.spec.devices import FLOAT32_ONLY, device_problem, kind
from scratch.activations import ACTIVATIONS
from scratch.init import INITS, default_init
from scratch.losses import LOSSES

IMPLS = ("scratch", "torch")
DTYPES = ("float32", "float64")
ENGINES = ("batched", "compiled", "single")  # how runs are trained: stacked, stacked and compiled, one at a time


def is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def one_of(options: tuple) -> callable:
    return lambda v: None if v in options else f"unknown {{key}} {v!r}; choose from {', '.join(options)}"


def number(ok, what: str) -> callable:
    return lambda v: None if is_number(v) and ok(v) else f"{{key}} must be {what}, got {v!r}"


def integer(low: int, high: float = math.inf) -> callable:
    what = f"an integer >= {low}" if high == math.inf else f"an integer in [{low}, 2**32)"
    return lambda v: None if is_int(v) and low <= v < high else f"{{key}} must be {what}, got {v!r}"


def format_sizes(sizes) -> str:
    """(784, 16, 16, 10) -> 784-16-16-10, the one spelling of sizes in flags, grids and tables."""
    return "-".join(map(str, sizes))


def parse_sizes(text: str) -> tuple[int, ...]:
    """784-16-16-10 -> (784, 16, 16, 10); raises ValueError for anything else."""
    sizes = tuple(int(n) for n in text.strip().split("-"))
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(text)
    return sizes


def sizes_problem(value) -> str | None:
    sizes = tuple(value) if isinstance(value, (tuple, list)) else ()
    if len(sizes) < 2 or not all(is_int(n) and n >= 1 for n in sizes) or sizes[0] != 784 or sizes[-1] != 10:
        shown = format_sizes(sizes) if sizes else repr(value)
        return f"sizes {shown} do not fit MNIST; they must start with 784 and end with 10, e.g. 784-16-16-10"
    return None


def val_size_problem(value) -> str | None:
    return None if value == "auto" or (is_int(value) and value >= 0) else \
        f"val_size must be auto or an integer >= 0, got {value!r}"


def spec(help: str, check, role: str, per_network: bool = False, kind: str = "text") -> dict:
    """A field's metadata; kind is its column's type: text, int or float."""
    return {"help": help, "check": check, "role": role, "per_network": per_network, "kind": kind}


@dataclass(frozen=True)
class RunConfig:
    impl: str = field(default="scratch", metadata=spec("implementation: scratch (numpy) or torch (autograd twin)",
                                                       one_of(IMPLS), "impl"))
    device: str = field(default="cpu", metadata=spec("torch device: cpu, cuda, cuda:N, mps, or auto (the best "
                                                     "present); the scratch network runs on cpu",
                                                     device_problem, "setting"))
    dataset: str = field(default="sample", metadata=spec("data: sample, mnist or fashion-mnist", one_of(DATASETS),
                                                         "setting"))
    sizes: tuple[int, ...] = field(default=(784, 16, 16, 10), metadata=spec(
        "neurons per layer, input first, written 784-16-16-10", sizes_problem, "setting"))
    activation: str = field(default="sigmoid", metadata=spec("hidden activation: sigmoid or relu",
                                                             one_of(tuple(ACTIVATIONS)), "question", True))
    loss: str = field(default="mse", metadata=spec("loss: mse, bce or ce (see scratch.losses)",
                                                   one_of(tuple(LOSSES)), "question", True))
    lr: float = field(default=3.0, metadata=spec("learning rate (eta in the book)",
                                                 number(lambda v: 0 < v < math.inf, "> 0 and finite"), "knob", True,
                                                 "float"))
    batch_size: int = field(default=10, metadata=spec("mini-batch size m", integer(1), "knob", kind="int"))
    epochs: int = field(default=30, metadata=spec("passes over the training set", integer(1), "knob", True, "int"))
    seed: int = field(default=0, metadata=spec("seeds the initial weights and the mini-batches", integer(0, 2 ** 32),
                                               "seed", kind="int"))
    init: str = field(default="auto", metadata=spec("initial weights: normal, lecun, he, or auto (lecun for "
                                                    "sigmoid, he for relu)", one_of(("auto", *INITS)), "knob", True))
    dtype: str = field(default="float64", metadata=spec("float precision: float32 or float64", one_of(DTYPES),
                                                        "setting"))
    val_size: int = field(default="auto", metadata=spec("training images held out for validation, 0 for none; auto: "
                                                        "10000 for mnist and fashion-mnist, 500 for sample",
                                                        val_size_problem, "setting", kind="int"))
    l2: float = field(default=0.0, metadata=spec("L2 strength lambda: C = C_0 + lambda/(2n) sum_w w^2",
                                                 number(lambda v: 0 <= v < math.inf, ">= 0 and finite"), "knob", True,
                                                 "float"))
    momentum: float = field(default=0.0, metadata=spec("momentum mu: v <- mu v + grad, W <- W - lr v",
                                                       number(lambda v: 0 <= v < 1, "in [0, 1)"), "knob", True,
                                                       "float"))
    lr_decay: float = field(default=1.0, metadata=spec("learning-rate decay gamma: epoch t trains with lr gamma^t",
                                                       number(lambda v: 0 < v <= 1, "in (0, 1]"), "knob", True,
                                                       "float"))

    def __post_init__(self):
        for f in FIELDS.values():
            check_field(f.name, getattr(self, f.name))
        resolved = {"sizes": tuple(int(n) for n in self.sizes),
                    "init": default_init(self.activation) if self.init == "auto" else self.init,
                    "val_size": DEFAULT_VAL_SIZE[self.dataset] if self.val_size == "auto" else int(self.val_size),
                    "device": "cpu" if self.impl == "scratch" and self.device == "auto" else self.device,
                    **{k: float(getattr(self, k)) + 0.0 for k in FLOATS},  # -0.0 is 0.0
                    **{k: int(getattr(self, k)) for k in ("batch_size", "epochs", "seed")}}
        for key, value in resolved.items():
            object.__setattr__(self, key, value)
        check_together(self)

    @cached_property
    def run_id(self) -> str:
        key = {k: v for k, v in sorted(asdict(self).items()) if k not in ("impl", "device")}
        key["sizes"] = list(key["sizes"])
        return hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]

    def row(self) -> dict:
        """The configuration as CSV columns (sizes written 784-16-16-10)."""
        return {**asdict(self), "sizes": format_sizes(self.sizes)}

    def describe(self) -> str:
        """One line for people: `torch relu/ce lr=0.05 seed=0`, knobs when they are not at rest."""
        knobs = "".join(f" {k}={getattr(self, k):g}" for k, rest in (("l2", 0), ("momentum", 0), ("lr_decay", 1))
                        if getattr(self, k) != rest)
        return f"{self.impl} {self.activation}/{self.loss} lr={self.lr:g}{knobs} seed={self.seed}"


FIELDS = {f.name: f for f in fields(RunConfig)}
COLUMNS = list(FIELDS)  # the configuration's columns of runs.csv, in this order


def with_role(*roles: str) -> list[str]:
    return [name for name, f in FIELDS.items() if f.metadata["role"] in roles]


def of_kind(kind: str) -> list[str]:
    return [name for name, f in FIELDS.items() if f.metadata["kind"] == kind]


FLOATS = of_kind("float")                    # lr, l2, momentum, lr_decay
INTEGERS = of_kind("int")                    # batch_size, epochs, seed, val_size
SETTINGS = with_role("setting")              # what a run is made on: never pooled
QUESTIONS = with_role("question")            # activation, loss
KNOBS = with_role("knob")                    # what a best configuration chooses
PER_NETWORK = [name for name, f in FIELDS.items() if f.metadata["per_network"]]
STACK_KEY = [name for name in FIELDS if name not in PER_NETWORK]  # equal within a stack
CHOICES = {"impl": IMPLS, "dataset": DATASETS, "activation": tuple(ACTIVATIONS), "loss": tuple(LOSSES),
           "init": ("auto", *INITS), "dtype": DTYPES}


def check_field(key: str, value) -> None:
    """Raise UsageError if one configuration value is out of range, naming it and the valid ones."""
    problem = FIELDS[key].metadata["check"](value)
    if problem:
        raise UsageError(problem.replace("{key}", key))


def check_together(c: RunConfig) -> None:
    """What the fields allow only together: a device for the twin, numbers the dtype can hold, a
    split and a batch the dataset can give."""
    if c.impl == "scratch" and c.device != "cpu":
        raise UsageError(f"device {c.device!r} applies to impl torch only; the scratch network runs on cpu")
    if kind(c.device) in FLOAT32_ONLY and c.dtype != "float32":
        raise UsageError(f"device {c.device} computes in float32 only; choose dtype float32 or another device")
    if c.dtype == "float32":  # the numbers the network computes with must exist in its dtype
        tiny, huge = float(np.finfo(np.float32).tiny), float(np.finfo(np.float32).max)
        for key in FLOATS:
            value = getattr(c, key)
            if value != 0 and not tiny <= abs(value) <= huge:
                raise UsageError(f"{key} {value!r} is not a number float32 can hold (1.2e-38 to 3.4e38); choose "
                                 f"another {key} or dtype float64")
    train_size = TRAIN_SIZES[c.dataset] - c.val_size
    if train_size < 1:
        raise UsageError(f"val_size {c.val_size} leaves no training images of the {TRAIN_SIZES[c.dataset]} "
                         f"of {c.dataset}; choose a smaller val_size")
    if c.batch_size > train_size:
        raise UsageError(f"batch_size {c.batch_size} is larger than the {train_size} training images of "
                         f"{c.dataset} (with {c.val_size} held out for validation); choose a smaller batch_size")
