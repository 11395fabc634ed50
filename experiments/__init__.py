"""The harness around the twins, a subpackage per role (docs/design.md draws the map):

    spec/       what to run: RunConfig, grid files, search spaces
    data/       the digits: datasets, IDX files, the bundled sample
    store/      a results folder: its files, its row layout, parameters, the manifest
    execution/  training one run or a stack, scheduling units on workers or Dask, limits, progress
    analysis/   model selection, intervals, tables, comparisons, the report and its figures
    tools/      gradcheck (ours and yours), bench, predict
    cli/        the command line: parses and dispatches to the rest
"""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mlp-twins")
except PackageNotFoundError:  # run from a checkout that was not installed
    __version__ = "0+unknown"
