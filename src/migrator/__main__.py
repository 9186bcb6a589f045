"""`python -m migrator` and the `migrator` console script."""

import sys

from migrator.cli import main


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
