"""`python -m generator` is the same as the `strata` command."""

import sys

from generator.cli import main

sys.exit(main())
