"""Deprecated: import these names from `migrator.plugin` instead.

`migrator.expect` moved to `migrator.plan.expect`.
Kept for one release, so that plugins written against the 0.1 guide still
load; importing it warns (DeprecationWarning).
"""

import warnings

from migrator.plugin import Comparison as Comparison
from migrator.plugin import EqualsQuery as EqualsQuery
from migrator.plugin import Expectation as Expectation
from migrator.plugin import compare_rows as compare_rows
from migrator.plugin import judge as judge

warnings.warn(
    "migrator.expect is deprecated and will be removed in the next release: "
    "import its names from migrator.plugin",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["Comparison", "EqualsQuery", "Expectation", "compare_rows", "judge"]
