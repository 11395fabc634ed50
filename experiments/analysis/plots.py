"""Figures of a results folder (PNG, headless): learning curves, the learning-rate sweep as
small multiples, the network at work on one digit, the first hidden layer's weights drawn
as images, and a confusion matrix of the best run (chosen on validation accuracy).

Curves and points average over seeds only: any other axis the runs vary (l2, batch size,
dtype, ...) gets lines of its own."""
import io
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from experiments.analysis.selection import NoNetwork, chosen_network, label, varying  # noqa: E402
from experiments.data.datasets import load_dataset  # noqa: E402
from experiments.errors import UsageError  # noqa: E402
from experiments.spec.config import KNOBS, QUESTIONS, SETTINGS  # noqa: E402
from experiments.store import params as param_files  # noqa: E402
from experiments.store.files import write_atomic  # noqa: E402
from experiments.store.manifest import peek  # noqa: E402
from scratch import Network  # noqa: E402


def lines_of(runs: pd.DataFrame, exclude: list[str]) -> list[str]:
    """The axes that tell the lines of one panel apart: every axis the runs vary but seeds,
    the panel's own and `exclude`."""
    return [c for c in varying(runs, SETTINGS + KNOBS, within=QUESTIONS + ["impl"]) if c not in exclude]


def name(keys: list[str], values) -> str:
    values = values if isinstance(values, tuple) else (values,)
    return ", ".join(f"{k} {label(v)}" for k, v in zip(keys, values, strict=True))


def save(fig, path: Path, tight: bool = True) -> Path:
    """The figure as a PNG at `path`, through a temporary file: a failure leaves no partial
    image, and is one line naming the file."""
    if tight:
        fig.tight_layout()
    buf = io.BytesIO()
    try:
        fig.savefig(buf, dpi=100, format="png")
    finally:
        plt.close(fig)
    write_atomic(path, buf.getvalue())
    return path


def grid_of_panels(count: int, width: float = 4.2, height: float = 3.2):
    cols = min(3, count)
    rows = int(np.ceil(count / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in axes.flat[count:]:
        ax.set_visible(False)
    return fig, list(axes.flat)[:count]


def learning_curves(runs: pd.DataFrame, epochs: pd.DataFrame, metric: str, path: Path) -> Path:
    """One panel per activation and loss; a line per configuration, mean over seeds, band min-max."""
    impl = "scratch" if "scratch" in set(runs.impl) else runs.impl.iloc[0]
    keys = lines_of(runs, [])
    table = epochs[epochs.impl == impl].merge(runs[runs.impl == impl][["run_id", *QUESTIONS, *keys, "seed"]],
                                              on="run_id")
    pairs = sorted(runs[QUESTIONS].drop_duplicates().itertuples(index=False))
    fig, axes = grid_of_panels(len(pairs))
    for ax, (activation, loss) in zip(axes, pairs, strict=True):
        sub = table[(table.activation == activation) & (table.loss == loss)]
        for values, group in (sub.groupby(keys) if keys else [((), sub)]):
            stats = group.groupby("epoch")[metric].agg(["mean", "min", "max"])
            line, = ax.plot(stats.index, stats["mean"], label=name(keys, values) if keys else None)
            ax.fill_between(stats.index, stats["min"], stats["max"], color=line.get_color(), alpha=0.2)
        ax.set_title(f"{activation} / {loss}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        if "loss" in metric and (sub[metric] > 0).any():  # a diverged run's NaN losses draw nothing
            ax.set_yscale("log")
        if keys:
            ax.legend(fontsize=6)
    fig.suptitle(f"{metric} per epoch ({impl}; mean over seeds, band min-max)")
    return save(fig, path)


def lr_sweep(runs: pd.DataFrame, path: Path, metric: str = "final_test_acc") -> Path:
    """Small multiples: one panel per loss, a line per activation and implementation (and any
    other axis the runs vary), mean ± std over seeds against the learning rate."""
    ok = runs[runs.status != "failed"]
    keys = ["activation", "impl", *lines_of(ok, ["lr"])]
    losses = sorted(ok.loss.unique())
    fig, axes = grid_of_panels(len(losses), width=4.6, height=3.6)
    colors = {}  # one color per line but for the implementation: the twins' lines share it
    for ax, loss in zip(axes, losses, strict=True):
        for values, group in ok[ok.loss == loss].groupby(keys):
            stats = group.groupby("lr")[metric].agg(["mean", "std"]).fillna(0)
            scratch = values[1] == "scratch"
            color = colors.setdefault(values[:1] + values[2:], f"C{len(colors) % 10}")
            ax.errorbar(stats.index, stats["mean"], yerr=stats["std"], capsize=3, linestyle="-" if scratch else "--",
                        marker="o" if scratch else "x", color=color, label=name(keys, values))
        ax.set_xscale("log")
        ax.set_title(f"loss {loss}")
        ax.set_xlabel("learning rate")
        ax.set_ylabel(metric)
        ax.legend(fontsize=6)
    fig.suptitle(f"{metric} against the learning rate (mean ± std over seeds)")
    return save(fig, path)


def per_lr(table: pd.DataFrame, axis: str, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for value in table.columns:
        ax.plot(table.index, table[value], marker="o", label=f"{axis} {label(value)}")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("test accuracy at the best epoch")
    ax.set_title(f"The best of each {axis} at each learning rate (chosen on validation)", fontsize=9)
    ax.legend(fontsize=8)
    return save(fig, path)


def parity(table: pd.DataFrame, path: Path, chaotic: float) -> Path:
    """Per configuration, the largest relative gap in training loss between the twins, against lr."""
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for (activation, loss), group in table.groupby(QUESTIONS):
        ax.scatter(group.lr, group.max_rel_train_loss_diff.clip(lower=1e-17), label=f"{activation}/{loss}", s=18)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.axhline(chaotic, color="gray", linestyle=":", linewidth=1)
    ax.set_xlabel("learning rate")
    ax.set_ylabel("max |scratch - torch| / torch, train_loss")
    ax.set_title("How far the twins part (zero drawn at 1e-17)", fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    return save(fig, path)



def run_label(run: pd.Series, network: param_files.NetworkFile | None = None) -> str:
    """`relu/ce lr 0.05 ... seed 1 (scratch)`, and the epoch of the parameters drawn."""
    knobs = f" l2 {run.l2:g} momentum {run.momentum:g} lr_decay {run.lr_decay:g}" if run.l2 or run.momentum \
        or run.lr_decay != 1 else ""
    epoch = f", epoch {network.epoch}" if network is not None and network.epoch is not None else ""
    return f"{run.activation}/{run.loss} lr {run.lr:g}{knobs} seed {run.seed} ({run.impl}{epoch})"


def first_layer(run: pd.Series, network: param_files.NetworkFile, path: Path) -> Path:
    """Each first-layer neuron's 784 weights as a 28x28 image: the pattern it responds to."""
    w1 = network.weights[0]  # (n_hidden, 784)
    n = min(len(w1), 64)
    fig, axes = grid_of_panels(n, width=1.6, height=1.6)
    if n <= 3:
        fig.set_size_inches(1.6 * n, 2.2)
    for ax, w in zip(axes, w1[:n], strict=True):
        limit = np.abs(w).max()
        ax.imshow(w.reshape(28, 28), cmap="RdBu_r", vmin=-limit, vmax=limit)  # red +, blue -
        ax.axis("off")
    fig.suptitle("First hidden layer: each neuron's weights on the 28x28 pixels (red +, blue -)\n"
                 f"{run_label(run, network)}",
                 fontsize=9)
    return save(fig, path)


def network_at_work(run: pd.Series, network: param_files.NetworkFile, image: np.ndarray, label_: int,
                    path: Path) -> Path:
    """3Blue1Brown's picture of the chosen network reading a test digit (see `reading`)."""
    net = Network(network.weights, network.biases, run.activation, run.loss)
    return reading(net, image, f"input: a test {label_}", f"The network at work: {run_label(run, network)}", path)


def reading(net: Network, image: np.ndarray, caption: str, title: str, path: Path) -> Path:
    """3Blue1Brown's picture: one digit (784 inputs in [0, 1]) going through the network, every
    layer a column of neurons shaded by its activation (the input as the 28x28 image), the
    connections between the small layers drawn by the sign and size of their weights."""
    weights = net.weights
    _, activations = net.forward(np.asarray(image, dtype=weights[0].dtype).reshape(1, -1))
    layers = [a[0] for a in activations[1:]]  # the hidden layers and the output a^L
    fig = plt.figure(figsize=(10, 6))
    ax_image = fig.add_axes([0.02, 0.25, 0.22, 0.5])
    ax_image.imshow(np.reshape(image, (28, 28)), cmap="gray", vmin=0, vmax=1)
    ax_image.set_title(f"{caption}\n(784 pixels)", fontsize=9)
    ax_image.axis("off")
    ax = fig.add_axes([0.27, 0.02, 0.71, 0.9])
    xs = np.linspace(0.0, 1.0, len(layers))
    ys = [np.linspace(1, 0, len(a)) if len(a) > 1 else np.array([0.5]) for a in layers]
    for l in range(1, len(layers)):  # the connections into layer l
        w = weights[l]
        limit = np.abs(w).max()
        for i in range(w.shape[0]):
            for j in range(w.shape[1]):
                strength = abs(w[i, j]) / limit
                if strength > 0.25:
                    color = "tab:red" if w[i, j] > 0 else "tab:blue"
                    ax.plot([xs[l - 1], xs[l]], [ys[l - 1][j], ys[l][i]], color=color, alpha=0.6 * strength,
                            linewidth=0.8, zorder=1)
    for l, a in enumerate(layers):
        shade = a / a.max() if a.max() > 0 else a
        ax.scatter(np.full(len(a), xs[l]), ys[l], s=260, c=shade, cmap="gray", vmin=0, vmax=1, edgecolors="black",
                   zorder=2)
        last = l == len(layers) - 1
        ax.text(xs[l], 1.07, f"{'output' if last else f'hidden {l + 1}'}\n({len(a)})", ha="center", fontsize=9)
        if last:
            predicted = int(np.argmax(a))
            for digit, (y, value) in enumerate(zip(ys[l], a, strict=True)):
                ax.text(xs[l] + 0.04, y, f"{digit}  {value:.2f}", va="center", fontsize=8,
                        fontweight="bold" if digit == predicted else "normal")
    ax.set_xlim(-0.08, 1.15)
    ax.set_ylim(-0.05, 1.15)
    ax.axis("off")
    fig.suptitle(f"{title}; bright = active, connections red +, blue -", fontsize=9)
    return save(fig, path, tight=False)


def confusion(run: pd.Series, network: param_files.NetworkFile, x_test: np.ndarray, labels: np.ndarray,
              path: Path) -> Path:
    weights, biases = network.weights, network.biases
    net = Network(weights, biases, run.activation, run.loss)
    predicted = net.logits(x_test.astype(weights[0].dtype)).argmax(axis=1)
    matrix = np.zeros((10, 10), dtype=int)
    np.add.at(matrix, (labels, predicted), 1)
    fig, ax = plt.subplots(figsize=(6, 5.4))
    image = ax.imshow(matrix, cmap="Blues")
    for i in range(10):
        for j in range(10):
            ax.text(j, i, matrix[i, j], ha="center", va="center", fontsize=7,
                    color="white" if matrix[i, j] > matrix.max() / 2 else "black")
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    ax.set_title(f"The chosen network on the test set ({matrix.trace()} / {matrix.sum()} right)\n"
                 f"{run_label(run, network)}", fontsize=9)
    fig.colorbar(image)
    return save(fig, path)


def plot_all(folder: Path, runs: pd.DataFrame, epochs: pd.DataFrame, data_root: str | None = None) -> list[Path]:
    out = folder / "plots"
    try:
        out.mkdir(exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot write to {out} ({e.strerror}); check the folder's permissions") from None
    ok = runs[runs.status != "failed"]
    if ok.empty:
        print("note: no run finished (every one failed): no figure to draw", file=sys.stderr)
        return []
    written = [learning_curves(ok, epochs, "test_acc", out / "learning_curves_test_acc.png"),
               learning_curves(ok, epochs, "train_loss", out / "learning_curves_train_loss.png")]
    if ok.lr.nunique() > 1:
        written.append(lr_sweep(ok, out / "lr_sweep.png"))
    try:
        run, network = chosen_network(folder, runs)
    except NoNetwork as e:
        print(f"note: no figure of the chosen network: {e}", file=sys.stderr)
        return written
    written.append(first_layer(run, network, out / "first_layer.png"))
    test = test_set(folder, run.dataset, data_root)
    written.append(confusion(run, network, test.x, test.labels, out / "confusion.png"))
    written.append(network_at_work(run, network, test.x[0], int(test.labels[0]), out / "network_at_work.png"))
    return written


def test_set(folder: Path, dataset: str, data_root: str | None):
    """The test images and labels the folder's runs were made with; other data under the data
    root (its checksum differs from the one the manifest records) is a UsageError."""
    data = load_dataset(dataset, data_root)
    entry = peek(folder).get("data")
    entry = entry.get(dataset) if isinstance(entry, dict) else None
    known = entry.get("checksum") if isinstance(entry, dict) else None  # without a manifest: nothing to check
    if known is not None and known != data.checksum():
        raise UsageError(f"the {dataset} data found now differs from the data {folder} was made with (its checksum); "
                         "point --data-root at that data to draw the best run's figures")
    return data.arrays("float64")["test"]
