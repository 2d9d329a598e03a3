"""``python -m anbu`` runs the ``anbu`` command."""

from anbu.cli import main

main()
