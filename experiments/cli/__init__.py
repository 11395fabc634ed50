"""The command line, mlp-twins: parses the arguments and dispatches to the rest of the package."""
