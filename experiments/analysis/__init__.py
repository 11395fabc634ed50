"""What the results say: model selection, intervals over seeds, tables, comparisons, the report."""
