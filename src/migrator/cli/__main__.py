"""`python -m migrator.cli`: the same as `migrator`."""

import sys

from migrator.cli import main

sys.exit(main())
