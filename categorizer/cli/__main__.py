"""`python -m categorizer.cli`: the same command line as the `categorizer` script."""

from categorizer.cli import main

main()
