"""Parameter files: a network's weights and what it takes to rebuild it, in NumPy's .npz, no pickle.

    W1, b1, W2, b2, ...   W_l (n_out, n_in) and b_l (n_out,), in the run's dtype
    activation, loss      the hidden activation and the loss (which fixes the output activation)
    run_id, impl, epoch   which run, which twin, after which epoch
    config                the run's configuration, as JSON

scratch.Network.load and torch_ref.TwinNet.load read them (sizes and dtype come from the arrays).
A results folder keeps two per run (docs/design.md):

    params/<run_id>-<impl>-final.npz   after the last epoch
    params/<run_id>-<impl>-best.npz    at the epoch of best validation accuracy (with a validation split)

Folders written before the best epoch was kept hold params/<run_id>-<impl>.npz, the final ones.
"""
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from experiments.errors import UsageError
from experiments.store.files import read_bytes

MAX_BYTES = 1 << 30  # a parameter file larger than this is not one (784-16-16-10 in float64 is 0.1 MB)


@dataclass
class Params:
    weights: list[np.ndarray]
    biases: list[np.ndarray]
    epoch: int | None = None


@dataclass
class NetworkFile:
    """A parameter file read back: the arrays and what they belong to."""
    path: Path
    weights: list[np.ndarray]
    biases: list[np.ndarray]
    activation: str
    loss: str
    run_id: str
    impl: str
    epoch: int | None
    config: dict

    @property
    def sizes(self) -> list[int]:
        return [self.weights[0].shape[1]] + [w.shape[0] for w in self.weights]


def file_name(run_id: str, impl: str, which: str) -> str:
    """which: final or best."""
    return f"{run_id}-{impl}-{which}.npz"


def path_of(folder: Path, run_id: str, impl: str, which: str) -> Path:
    """The file of a run's `which` parameters in a results folder; for `final`, the name of older
    folders when only it is there."""
    path = Path(folder) / "params" / file_name(run_id, impl, which)
    legacy = path.with_name(f"{run_id}-{impl}.npz")
    return legacy if which == "final" and not path.exists() and legacy.exists() else path


def encode(params: Params, config: dict, activation: str, loss: str, run_id: str, impl: str) -> bytes:
    """The bytes of a parameter file."""
    arrays = {f"W{l}": w for l, w in enumerate(params.weights, 1)}
    arrays |= {f"b{l}": b for l, b in enumerate(params.biases, 1)}
    meta = {"activation": activation, "loss": loss, "run_id": run_id, "impl": impl,
            "epoch": -1 if params.epoch is None else params.epoch, "config": json.dumps(config, sort_keys=True)}
    buf = io.BytesIO()
    np.savez(buf, **arrays, **{k: np.array(v) for k, v in meta.items()})
    return buf.getvalue()


def load(path: str | Path) -> NetworkFile:
    """A parameter file, checked: a damaged or foreign file is a UsageError that names it."""
    path = Path(path)
    data = read_bytes(path, MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise UsageError(f"{path} is larger than any parameter file ({MAX_BYTES >> 20} MB); give a .npz that a run "
                         "wrote")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as f:
            layers = len([k for k in f.files if k.startswith("W")])
            weights = [f[f"W{l}"] for l in range(1, layers + 1)]
            biases = [f[f"b{l}"] for l in range(1, layers + 1)]
            text = {k: str(f[k]) if k in f.files else "" for k in ("activation", "loss", "run_id", "impl", "config")}
            epoch = int(f["epoch"]) if "epoch" in f.files else -1
    except Exception as e:  # zipfile.BadZipFile, OSError, ValueError, KeyError, EOFError: all say "damaged"
        raise UsageError(f"{path} is not a readable parameter file ({type(e).__name__}); give a .npz that a run "
                         "wrote, or run that run again") from None
    chained = bool(weights) and all(w.ndim == 2 and b.shape == (w.shape[0],) and np.issubdtype(w.dtype, np.floating)
                                    and b.dtype == w.dtype for w, b in zip(weights, biases, strict=True))
    chained = chained and all(after.shape[1] == w.shape[0] for w, after in zip(weights[:-1], weights[1:], strict=True))
    if not chained or weights[0].shape[1] != 784 or weights[-1].shape[0] != 10:
        raise UsageError(f"{path} does not hold the weights and biases of a network from 784 pixels to 10 digits; "
                         "give a .npz that a run wrote, or run that run again")
    if not all(np.isfinite(t).all() for t in weights + biases):
        raise UsageError(f"{path} holds weights that are not finite numbers (its run diverged, or the file was "
                         "changed); choose another run or run it again")
    try:
        config = json.loads(text["config"]) if text["config"] else {}
    except ValueError:
        config = {}
    config = config if isinstance(config, dict) else {}
    activation = text["activation"] or config.get("activation", "")
    loss = text["loss"] or config.get("loss", "")
    return NetworkFile(path, weights, biases, activation, loss, text["run_id"], text["impl"],
                       None if epoch < 0 else epoch, config)
