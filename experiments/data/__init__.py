"""The digits: MNIST and Fashion-MNIST from IDX files, and the sample bundled with the package.

`load_dataset(name, data_root)` is the way in (experiments.data.datasets)."""
from experiments.data.datasets import load_dataset

__all__ = ["load_dataset"]
