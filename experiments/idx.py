"""Checks of MNIST's IDX files before torchvision reads them.

An IDX file is a big-endian header (magic number, then one count per dimension) followed
by unsigned bytes: magic 2051 for images (n, 28, 28), 2049 for labels (n,).
"""
from pathlib import Path

import numpy as np

from experiments.errors import UsageError

IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049
SPLITS = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
          "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
FIX = "delete it and download again"


def read_header(path: Path, magic: int, dims: int) -> tuple[int, ...]:
    """The counts of an IDX file, after checking its magic number and its length."""
    try:
        with open(path, "rb") as f:
            head = f.read(4 + 4 * dims)
        size = path.stat().st_size
    except OSError as e:
        raise UsageError(f"cannot read {path} ({e.strerror}); check its permissions") from None
    if len(head) < 4 + 4 * dims:
        raise UsageError(f"{path} is truncated (only {len(head)} bytes); {FIX}")
    found, *counts = np.frombuffer(head, dtype=">u4").tolist()
    if found != magic:
        raise UsageError(f"{path} is not an IDX file of this kind (magic number {found}, expected {magic}); {FIX}")
    expected = 4 + 4 * dims + int(np.prod(counts))
    if size != expected:
        raise UsageError(f"{path} has {size} bytes but its header promises {expected}; "
                         f"the file is truncated or corrupt: {FIX}")
    return tuple(counts)


def check_labels(path: Path) -> None:
    """Every label a digit 0-9."""
    labels = np.fromfile(path, dtype=np.uint8, offset=8)
    bad = np.flatnonzero(labels > 9)
    if len(bad):
        raise UsageError(f"{path} has labels outside 0-9 ({len(bad)} of them, the first {labels[bad[0]]} at "
                         f"index {bad[0]}); {FIX}")


def check_raw_folder(raw: Path, download_hint: str) -> None:
    """Raise UsageError unless `raw` holds the four IDX files, consistent with each other."""
    for split, (images, labels) in SPLITS.items():
        for name in (images, labels):
            if not (raw / name).is_file():
                raise UsageError(f"{raw / name} is missing; {download_hint}")
        n_images, rows, cols = read_header(raw / images, IMAGES_MAGIC, 3)
        (n_labels,) = read_header(raw / labels, LABELS_MAGIC, 1)
        if (rows, cols) != (28, 28):
            raise UsageError(f"{raw / images} holds {rows}x{cols} images, expected 28x28; {FIX}")
        if n_images == 0:
            raise UsageError(f"{raw / images} holds no images; {FIX}")
        if n_images != n_labels:
            raise UsageError(f"{raw} has {n_images} {split} images but {n_labels} labels; "
                             "delete the folder and download again")
        check_labels(raw / labels)
