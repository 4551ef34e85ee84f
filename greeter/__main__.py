"""``python -m greeter`` runs the command line."""

from greeter.cli import main

main()
