"""Datasets, the experiment grid, the runner, gradient verification and reports."""
