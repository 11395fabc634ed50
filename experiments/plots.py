"""Figures of a results folder (PNG, headless): learning curves, the learning-rate sweep,
the first hidden layer's weights drawn as images, and a confusion matrix of the best run."""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from experiments.results import load_params  # noqa: E402


def best_run(runs: pd.DataFrame) -> pd.Series:
    ok = runs[runs.status == "ok"]
    return ok.sort_values(["final_test_acc", "impl"], ascending=[False, True]).iloc[0]


def panels(runs: pd.DataFrame):
    pairs = runs[["activation", "loss"]].drop_duplicates().sort_values(["activation", "loss"]).to_numpy()
    cols = min(3, len(pairs))
    rows = int(np.ceil(len(pairs) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False, sharex=True)
    for ax in axes.flat[len(pairs):]:
        ax.set_visible(False)
    return fig, list(zip(list(axes.flat)[:len(pairs)], pairs, strict=True))


def learning_curves(runs: pd.DataFrame, epochs: pd.DataFrame, metric: str, path: Path) -> Path:
    impl = "scratch" if "scratch" in set(runs.impl) else runs.impl.iloc[0]
    table = epochs[epochs.impl == impl].merge(
        runs[runs.impl == impl][["run_id", "activation", "loss", "lr", "seed"]], on="run_id")
    fig, cells = panels(runs)
    for ax, (activation, loss) in cells:
        sub = table[(table.activation == activation) & (table.loss == loss)]
        for lr, group in sub.groupby("lr"):
            stats = group.groupby("epoch")[metric].agg(["mean", "min", "max"])
            line, = ax.plot(stats.index, stats["mean"], label=f"lr {lr:g}")
            ax.fill_between(stats.index, stats["min"], stats["max"], color=line.get_color(), alpha=0.2)
        ax.set_title(f"{activation} / {loss}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        if "loss" in metric:
            ax.set_yscale("log")
        ax.legend(fontsize=7)
    fig.suptitle(f"{metric} per epoch ({impl}; mean over seeds, band min-max)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def lr_sweep(runs: pd.DataFrame, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ok = runs[runs.status != "failed"]
    for (activation, loss, impl), group in ok.groupby(["activation", "loss", "impl"]):
        stats = group.groupby("lr").final_test_acc.agg(["mean", "std"]).fillna(0)
        ax.errorbar(stats.index, stats["mean"], yerr=stats["std"], capsize=3,
                    linestyle="-" if impl == "scratch" else "--", marker="o" if impl == "scratch" else "x",
                    label=f"{activation}/{loss} ({impl})")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate η")
    ax.set_ylabel("final test accuracy")
    ax.set_title("Learning-rate sweep (mean ± std over seeds)")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def first_layer(run: pd.Series, params_path: Path, path: Path) -> Path:
    """Each first-layer neuron's 784 weights as a 28x28 image: the pattern it responds to."""
    w1 = load_params(params_path)[0][0]  # (n_hidden, 784)
    n = len(w1)
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.6 * rows + 0.6), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, w in zip(list(axes.flat)[:n], w1, strict=True):
        limit = np.abs(w).max()
        ax.imshow(w.reshape(28, 28), cmap="RdBu_r", vmin=-limit, vmax=limit)  # red +, blue -
    fig.suptitle(f"First hidden layer of the best run\n{run.activation}/{run.loss} lr {run.lr:g} "
                 f"seed {run.seed} ({run.impl}), test acc {run.final_test_acc:.3f}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def confusion(run: pd.Series, params_path: Path, x_test: np.ndarray, labels: np.ndarray, path: Path) -> Path:
    from scratch import Network
    weights, biases = load_params(params_path)
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
    ax.set_title(f"Confusion matrix of the best run ({matrix.trace()} / {matrix.sum()} right)")
    fig.colorbar(image)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_all(folder: Path, runs: pd.DataFrame, epochs: pd.DataFrame, data_root: str | None = None) -> list[Path]:
    from experiments.data import load_dataset
    out = folder / "plots"
    out.mkdir(exist_ok=True)
    written = [learning_curves(runs, epochs, "test_acc", out / "learning_curves_test_acc.png"),
               learning_curves(runs, epochs, "train_loss", out / "learning_curves_train_loss.png"),
               lr_sweep(runs, out / "lr_sweep.png")]
    run = best_run(runs)
    params = folder / "params" / f"{run.run_id}-{run.impl}.npz"
    if params.exists():
        written.append(first_layer(run, params, out / "first_layer.png"))
        test = load_dataset(run.dataset, data_root).arrays("float64")["test"]
        written.append(confusion(run, params, test.x, test.labels, out / "confusion.png"))
    return written
