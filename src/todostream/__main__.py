"""`python -m todostream` runs the command line."""

from todostream.cli import main

main()
