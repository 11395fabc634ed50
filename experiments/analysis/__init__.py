"""What the results say: model selection, intervals over seeds, tables, comparisons, the report.

`best_params(folder)` is the way to a folder's chosen network (experiments.analysis.selection)."""
from experiments.analysis.selection import best_params

__all__ = ["best_params"]
