from experiments.console import main

main()
