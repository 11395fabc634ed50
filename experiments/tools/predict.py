"""A trained network reads digits from image files: `mlp-twins predict IMAGE... --model FOLDER_OR_FILE`.

The model is a parameter file (experiments.store.params), or a results folder: then its chosen
network (the run of the best configuration, chosen on validation, at its best epoch: what its
report draws), or the run named by its run_id. Each image is prepared as MNIST's digits were
made (experiments.tools.drawn_digits) and goes through the network's forward pass in float64;
the answer is the digit of the largest output, with the ten output activations (softmax for a
network trained with the softmax cross-entropy, sigmoids otherwise).
"""
import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from experiments.analysis.selection import chosen_network, load
from experiments.errors import UsageError
from experiments.store import params as param_files
from experiments.store.files import kind_of
from experiments.tools.drawn_digits import as_input, prepare, read_image
from scratch import Network

OUTPUT_KIND = {"ce": "softmax", "mse": "sigmoid", "bce": "sigmoid"}


@dataclass
class Model:
    network: Network
    source: str          # what was loaded: the file, and the run's description


@dataclass
class Prediction:
    image: Path
    digit: int
    outputs: np.ndarray          # (10,) the output activations a^L
    input: np.ndarray            # (28, 28) what the network saw
    activations: list[np.ndarray]  # every layer's a^l for this image, hidden and output


def network_of(file: param_files.NetworkFile, activation: str = "", loss: str = "") -> Network:
    """The scratch network of a parameter file, in float64 (as the figures and the page compute)."""
    activation, loss = file.activation or activation, file.loss or loss
    if not activation or not loss:
        raise UsageError(f"{file.path} does not say which activation and loss its network uses (written by an "
                         "older version); give the results folder it is in as --model")
    return Network([w.astype(np.float64) for w in file.weights], [b.astype(np.float64) for b in file.biases],
                   activation, loss)


def load_model(model: str | Path, run_id: str | None = None) -> Model:
    """The network a parameter file holds, or a results folder's chosen network (or its run `run_id`)."""
    path = Path(model)
    kind = kind_of(path) if path.exists() or path.is_symlink() else None
    if kind is None:
        raise UsageError(f"{path}: no such results folder or parameter file; give one with --model")
    if path.is_file():
        if run_id is not None:
            raise UsageError("--run chooses a run of a results folder; give the folder as --model, not a file")
        file = param_files.load(path)
        return Model(network_of(file), f"{path} ({file.run_id or 'a run'}, epoch {file.epoch})")
    if not path.is_dir():
        raise UsageError(f"{path} is a {kind}, not a results folder or a parameter file")
    runs, _ = load(path)
    if run_id is None:
        run, file = chosen_network(path, runs)
    else:
        mine = runs[(runs.run_id == run_id) & (runs.status != "failed")]
        if mine.empty:
            raise UsageError(f"no finished run {run_id!r} in {path}; its run_ids are in {path / 'runs.csv'}")
        run = mine.sort_values("impl", key=lambda s: s != "scratch").iloc[0]  # scratch's file first
        which = "best" if not np.isnan(run.best_val_acc) else "final"
        chosen = param_files.path_of(path, run.run_id, run.impl, which)
        if not chosen.exists():
            raise UsageError(f"{chosen} is missing: the parameters of run {run_id} are not in {path / 'params'}")
        file = param_files.load(chosen)
    network = network_of(file, run.activation, run.loss)
    return Model(network, f"{path}: run {run.run_id} ({run.activation}/{run.loss} lr {run.lr:g}, seed {run.seed}, "
                          f"{run.impl}), parameters of epoch {file.epoch}")


def read(path: str | Path, network: Network) -> Prediction:
    """One image prepared and read by the network."""
    seen = prepare(read_image(path), str(path))
    zs, activations = network.forward(as_input(seen)[None, :])
    outputs = activations[-1][0]
    return Prediction(Path(path), int(np.argmax(outputs)), outputs, seen, [a[0] for a in activations[1:]])


def csv_text(predictions: list[Prediction]) -> str:
    """`image,prediction,a0,...,a9`, then a row per image, outputs in full float64."""
    buffer = io.StringIO()
    rows = csv.writer(buffer, lineterminator="\n")  # quotes a name with a comma, a quote or a line break
    rows.writerow(["image", "prediction", *(f"a{k}" for k in range(10))])
    rows.writerows([str(p.image), p.digit, *(repr(float(a)) for a in p.outputs)] for p in predictions)
    return buffer.getvalue()


def text_lines(predictions: list[Prediction], loss: str) -> list[str]:
    kind = OUTPUT_KIND[loss]
    return [f"{p.image}: {p.digit}   ({kind} outputs: " + "  ".join(f"{k} {a:.3f}" for k, a in enumerate(p.outputs))
            + ")" for p in predictions]
