"""Training: one run or a stack of runs, units scheduled on workers or Dask, limits and progress."""
