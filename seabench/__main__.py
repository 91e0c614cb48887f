from seabench.cli import main

main()
