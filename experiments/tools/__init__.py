"""Tools around the twins: gradient checks, benchmarks, predictions."""
