"""The datasets both implementations train on, as the same numpy arrays.

  sample         5,000 real MNIST digits bundled with the package (sample.npz, see SAMPLE.md),
                 split 4,000 / 1,000, stratified and deterministic; works offline (the default)
  mnist          the official 60,000 / 10,000, from the IDX files of a data root
  fashion-mnist  the same for Fashion-MNIST

The IDX files are read with NumPy (experiments.data.idx) from `<data root>/MNIST/raw`, the
layout torchvision uses; torchvision is only needed to download them (--download).

A validation set is held out of the training set (`Dataset.split`): by default the last
10,000 of the 60,000 training images of mnist and fashion-mnist, as Nielsen's loader does,
and a stratified 500 of the 4,000 of sample. Training never sees it; it is what runs are
chosen on, and the test set is only reported.

Images are kept as uint8 (N, 784) and scaled to [0, 1] in the dtype of the run as their rows
are read (`Pixels`); labels are int64 digits 0-9.
"""
import hashlib
import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np

from experiments.data import idx
from experiments.errors import UsageError
from experiments.store.files import check_writable

DATASETS = ("sample", "mnist", "fashion-mnist")
DATA_ROOT_ENV = "MLP_TWINS_DATA_ROOT"
SAMPLE_TEST_PER_CLASS = 100  # 10 x 100 = 1,000 test digits, 4,000 left for training
DEFAULT_VAL_SIZE = {"sample": 500, "mnist": 10_000, "fashion-mnist": 10_000}
TRAIN_SIZES = {"sample": 4000, "mnist": 60_000, "fashion-mnist": 60_000}  # before the validation split


def default_data_root() -> str:
    return os.environ.get(DATA_ROOT_ENV, "data")


class Pixels:
    """Images (n, 784) kept uint8, read as pixels scaled to [0, 1] in `dtype`: x[rows] is
    images[rows] / 255, the very numbers of the scaled array, in an eighth (float64) or a
    quarter (float32) of its memory. Training reads mini-batches and evaluation chunks, so
    the whole set is never scaled at once."""

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


class Part(NamedTuple):
    x: Pixels | np.ndarray  # (n, 784) pixels in [0, 1]
    labels: np.ndarray      # (n,) int64


@dataclass(frozen=True)
class Dataset:
    name: str
    train_images: np.ndarray  # (n_train, 784) uint8
    train_labels: np.ndarray  # (n_train,) int64
    test_images: np.ndarray   # (n_test, 784) uint8
    test_labels: np.ndarray   # (n_test,) int64
    val_images: np.ndarray = field(default_factory=lambda: np.zeros((0, 784), np.uint8))
    val_labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    source: str = ""  # what is known of the files: "official", or why they are not (or cannot be) verified

    def split(self, val_size: int) -> "Dataset":
        """This dataset with `val_size` of its training images held out as the validation set:
        the last ones for mnist and fashion-mnist, a stratified choice for sample."""
        if len(self.val_labels):
            raise ValueError("this dataset is split already")
        self.check_fits(val_size, 1)
        n = len(self.train_labels)
        if self.name == "sample":
            val = np.sort(stratified(self.train_labels, val_size, seed=1))
            train = np.setdiff1d(np.arange(n), val)
        else:
            train, val = np.arange(n - val_size), np.arange(n - val_size, n)
        return replace(self, train_images=self.train_images[train], train_labels=self.train_labels[train],
                       val_images=self.train_images[val], val_labels=self.train_labels[val])

    def check_fits(self, val_size: int, batch_size: int) -> None:
        """Refuse a split or a mini-batch larger than this dataset's files hold (a folder of a
        few images under the name of a dataset of 60,000)."""
        n = len(self.train_labels)
        if not 0 <= val_size < n:
            raise UsageError(f"val_size {val_size} must be >= 0 and below the {n} training images of {self.name}")
        if batch_size > n - val_size:
            raise UsageError(f"batch_size {batch_size} is larger than the {n - val_size} training images of "
                             f"{self.name} here (with {val_size} held out for validation); choose a smaller "
                             "batch_size")

    def parts(self, dtype: str) -> dict[str, Part]:
        """{"train", "val", "test"}: images left uint8 and scaled to [0, 1] in `dtype` as their
        rows are read, and labels."""
        return {"train": Part(Pixels(self.train_images, dtype), self.train_labels),
                "val": Part(Pixels(self.val_images, dtype), self.val_labels),
                "test": Part(Pixels(self.test_images, dtype), self.test_labels)}

    def arrays(self, dtype: str) -> dict[str, Part]:
        """parts(dtype) with every row read: the images scaled to [0, 1] in `dtype`."""
        return {name: Part(part.x[:], part.labels) for name, part in self.parts(dtype).items()}

    def checksum(self) -> str:
        """sha256 of every image and label, in the order train, val, test."""
        h = hashlib.sha256()
        for a in (self.train_images, self.train_labels, self.val_images, self.val_labels, self.test_images,
                  self.test_labels):
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()


def stratified(labels: np.ndarray, count: int, seed: int) -> np.ndarray:
    """`count` indices spread over the labels as evenly as they go: every label's indices in a
    seeded random order, then taken a round at a time (the first of every label, then the second...)."""
    rng = np.random.default_rng(seed)
    rank = np.empty(len(labels), dtype=np.int64)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        rank[rng.permutation(members)] = np.arange(len(members))
    order = np.lexsort((labels, rank))  # by rank, then by label
    return order[:count]


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


SAMPLE = Path(__file__).parent / "sample.npz"


def load_sample() -> Dataset:
    """The bundled 5,000 digits, split 4,000 / 1,000 (100 test digits of each class, drawn with seed 0)."""
    with np.load(SAMPLE, allow_pickle=False) as f:
        images, labels = f["images"], f["labels"].astype(np.int64)
    rng = np.random.default_rng(0)
    test = np.sort(np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:SAMPLE_TEST_PER_CLASS]
                                   for c in range(10)]))
    train = np.setdiff1d(np.arange(len(labels)), test)
    return Dataset("sample", images[train], labels[train], images[test], labels[test],
                   source="MNIST's first 500 training digits of each class, bundled with the package")


FOLDERS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}  # torchvision's class and folder names
# md5 of the uncompressed IDX files of the official MNIST, and of Fashion-MNIST's published .gz files
OFFICIAL_MD5 = {"mnist": {"train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
                          "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
                          "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
                          "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637"}}
OFFICIAL_GZ_MD5 = {"fashion-mnist": {"train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                                     "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
                                     "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
                                     "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310"}}


def md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def provenance(name: str, raw: Path) -> str:
    """"official" when the IDX files (or the .gz files beside them) have the published
    checksums; otherwise which file differs, or why they cannot be checked."""
    files = [f for pair in idx.SPLITS.values() for f in pair]
    if name in OFFICIAL_MD5:
        wrong = [f for f in files if md5(raw / f) != OFFICIAL_MD5[name][f]]
    elif all((raw / f"{f}.gz").is_file() for f in files):
        wrong = [f for f in files if md5(raw / f"{f}.gz") != OFFICIAL_GZ_MD5[name][f"{f}.gz"]]
    else:
        return "unverified: the published checksums are of the .gz files, which are not beside the IDX files"
    return "official" if not wrong else f"not the official {name}: {', '.join(wrong)} differ from the published files"


def download(name: str, root: str | None) -> None:
    """Fetch the IDX files into root/<Folder>/raw with torchvision (root: the default data root when None)."""
    root = root or default_data_root()
    raw = Path(root) / FOLDERS[name] / "raw"
    try:
        check_writable(raw)
    except OSError as e:
        raise UsageError(f"cannot download {name} into {root} ({e.strerror or type(e).__name__}); choose a "
                         "--data-root you may write to") from None
    from torchvision import datasets  # torch: only a download needs it
    try:
        for train in (True, False):
            getattr(datasets, FOLDERS[name])(root, train=train, download=True)
    except Exception as e:  # torchvision raises RuntimeError / URLError / OSError
        reason = [line for line in str(e).splitlines() if line.strip()][-1:] or [type(e).__name__]
        raise UsageError(f"could not download {name} into {root} ({reason[0].strip()}); "
                         f"check the network, or copy the IDX files into {raw}") from None


def load_idx(name: str, root: str) -> Dataset:
    """MNIST or Fashion-MNIST from the IDX files at root/<Folder>/raw (torchvision's layout)."""
    raw = Path(root) / FOLDERS[name] / "raw"
    absent = idx.missing(raw)
    if absent is not None:
        raise UsageError(f"{absent} is missing; run with --download to fetch {name}, or point --data-root (or "
                         f"${DATA_ROOT_ENV}) at a folder holding {FOLDERS[name]}/raw")
    (train_images, train_labels), (test_images, test_labels) = idx.read_split(raw, "train"), idx.read_split(raw, "test")
    source = provenance(name, raw)
    if source.startswith("not the official"):
        warn(f"{raw}: {source}")
    return Dataset(name, train_images, train_labels, test_images, test_labels, source=source)


def load_dataset(name: str, data_root: str | None = None, fetch: bool = False) -> Dataset:
    """The whole dataset, not yet split (Dataset.split holds out the validation set)."""
    if name not in DATASETS:
        raise UsageError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    if name == "sample":
        return load_sample()
    root = data_root or default_data_root()
    if fetch:
        download(name, root)
    return load_idx(name, root)
