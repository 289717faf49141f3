from edge.shell.cli import main

main()
