"""What to run: RunConfig (one run, the unit of every grid and row), grid files, search spaces."""
