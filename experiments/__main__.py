from experiments.cli.console import main

main()
