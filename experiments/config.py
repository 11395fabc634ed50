"""RunConfig: one training run, the unit of the grid and of every CSV row.

`run_id` hashes the configuration without `impl` and `device`, so the scratch and torch
runs of one configuration (and the same run on cpu and cuda) share it.
"""
import hashlib
import json
from dataclasses import asdict, dataclass, fields

from experiments.data import DATASETS
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
    sizes: tuple[int, ...] = (784, 16, 16, 10)  # neurons per layer, input first
    activation: str = "sigmoid"            # hidden activation: sigmoid | relu
    loss: str = "mse"                      # cost: mse | bce | ce (see scratch.losses)
    lr: float = 3.0                        # learning rate eta
    batch_size: int = 10                   # mini-batch size m
    epochs: int = 30                       # passes over the training set
    seed: int = 0                          # seeds the initial weights and the batch order
    init: str = "auto"                     # normal | lecun | he | auto (lecun for sigmoid, he for relu)
    dtype: str = "float64"                 # float32 | float64

    def resolved(self) -> "RunConfig":
        """Validated, with `init=auto` replaced by the scheme it stands for."""
        validate(self)
        init = default_init(self.activation) if self.init == "auto" else self.init
        return RunConfig(**{**asdict(self), "init": init, "sizes": tuple(self.sizes), "lr": float(self.lr)})

    @property
    def run_id(self) -> str:
        c = self.resolved()
        key = {k: v for k, v in sorted(asdict(c).items()) if k not in ("impl", "device")}
        key["sizes"] = list(key["sizes"])
        return hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]

    def row(self) -> dict:
        """The configuration as CSV columns (sizes written 784-16-16-10)."""
        d = asdict(self.resolved())
        d["sizes"] = "-".join(map(str, d["sizes"]))
        return d


FIELDS = {f.name: f for f in fields(RunConfig)}
CHOICES = {"impl": IMPLS, "device": DEVICES, "dataset": DATASETS, "activation": tuple(ACTIVATIONS),
           "loss": tuple(LOSSES), "init": ("auto", *INITS), "dtype": DTYPES}


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_field(key: str, value) -> None:
    """Raise UsageError if one configuration value is out of range, naming it and the valid ones."""
    if key in CHOICES and value not in CHOICES[key]:
        raise UsageError(f"unknown {key} {value!r}; choose from {', '.join(CHOICES[key])}")
    if key == "lr" and not (isinstance(value, (int, float)) and 0 < value < float("inf")):
        raise UsageError(f"lr must be > 0 and finite, got {value!r}")
    if key in ("batch_size", "epochs") and not (is_int(value) and value >= 1):
        raise UsageError(f"{key} must be >= 1 (an integer), got {value!r}")
    if key == "seed" and not (is_int(value) and value >= 0):
        raise UsageError(f"seed must be >= 0 (an integer), got {value!r}")
    if key == "sizes":
        sizes = tuple(value)
        if len(sizes) < 2 or not all(is_int(n) and n >= 1 for n in sizes) or sizes[0] != 784 or sizes[-1] != 10:
            raise UsageError(f"sizes {','.join(map(str, sizes))} do not fit MNIST; they must start with 784 "
                             "and end with 10, e.g. 784,16,16,10")


def validate(c: RunConfig) -> None:
    """Raise UsageError naming the first bad value and what would be valid."""
    for key in FIELDS:
        check_field(key, getattr(c, key))
    if c.impl == "scratch" and c.device == "cuda":
        raise UsageError("device 'cuda' applies to impl torch only; the scratch network runs on cpu")
