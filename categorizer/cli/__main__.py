"""`python -m categorizer.cli`: the same command line as the `categorizer` script."""

import sys

from categorizer.cli import main

sys.exit(main())
