"""``python -m samfuse`` runs the command line."""

from samfuse.cli.main import main

main()
