"""Datasets, the experiment grid, the runner, gradient verification, tables and reports."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mlp-twins")
except PackageNotFoundError:  # run from a checkout that was not installed
    __version__ = "0+unknown"
