"""MNIST's IDX files, checked and read with NumPy.

An IDX file is a big-endian header (magic number, then one count per dimension) followed
by unsigned bytes: magic 2051 for images (n, 28, 28), 2049 for labels (n,).
"""
import stat
from pathlib import Path

import numpy as np

from experiments.errors import UsageError

IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049
SPLITS = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
          "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
FIX = "delete it and download again"


def read_bytes(path: Path) -> bytes:
    """The whole file; something that is not a regular file (a FIFO, a device) is refused before
    it is opened, since reading one could block or never end."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise UsageError(f"{path} is not a regular file; put the IDX file itself there")
        return path.read_bytes()
    except OSError as e:
        raise UsageError(f"cannot read {path} ({e.strerror}); check its permissions") from None


def parse(path: Path, magic: int, dims: int) -> np.ndarray:
    """The array of an IDX file, (n, rows, cols) or (n,) uint8, after checking its magic number
    and that its length is the one its header promises."""
    data = read_bytes(path)
    head = 4 + 4 * dims
    if len(data) < head:
        raise UsageError(f"{path} is truncated (only {len(data)} bytes); {FIX}")
    found, *counts = np.frombuffer(data, dtype=">u4", count=1 + dims).tolist()
    if found != magic:
        raise UsageError(f"{path} is not an IDX file of this kind (magic number {found}, expected {magic}); {FIX}")
    expected = head + int(np.prod(counts))
    if len(data) != expected:
        raise UsageError(f"{path} has {len(data)} bytes but its header promises {expected}; "
                         f"the file is truncated or corrupt: {FIX}")
    return np.frombuffer(bytearray(data), dtype=np.uint8, offset=head).reshape(counts)  # writable: its own bytes


def read_split(raw: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images (n, 784) uint8, labels (n,) int64) of the train or test split in `raw`."""
    images_file, labels_file = SPLITS[split]
    images = parse(raw / images_file, IMAGES_MAGIC, 3)
    labels = parse(raw / labels_file, LABELS_MAGIC, 1)
    n, rows, cols = images.shape
    if (rows, cols) != (28, 28):
        raise UsageError(f"{raw / images_file} holds {rows}x{cols} images, expected 28x28; {FIX}")
    if n == 0:
        raise UsageError(f"{raw / images_file} holds no images; {FIX}")
    if n != len(labels):
        raise UsageError(f"{raw} has {n} {split} images but {len(labels)} labels; delete the folder and download again")
    bad = np.flatnonzero(labels > 9)
    if len(bad):
        raise UsageError(f"{raw / labels_file} has labels outside 0-9 ({len(bad)} of them, the first "
                         f"{labels[bad[0]]} at index {bad[0]}); {FIX}")
    return images.reshape(n, rows * cols), labels.astype(np.int64)


def missing(raw: Path) -> Path | None:
    """The first of the four IDX files that is not in `raw`, or None."""
    for pair in SPLITS.values():
        for name in pair:
            if not (raw / name).exists():
                return raw / name
    return None
