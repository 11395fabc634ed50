"""The digits: MNIST and Fashion-MNIST from IDX files, and the sample bundled with the package."""
