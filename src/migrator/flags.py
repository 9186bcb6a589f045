"""Deprecated: import these names from `migrator.plugin` instead.

`migrator.flags` moved to `migrator.plugin.flags`.
Kept for one release, so that plugins written against the 0.1 guide still
load; importing it warns (DeprecationWarning).
"""

import warnings

from migrator.plugin import MISSING as MISSING
from migrator.plugin import FlagStore as FlagStore

warnings.warn(
    "migrator.flags is deprecated and will be removed in the next release: "
    "import its names from migrator.plugin",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["MISSING", "FlagStore"]
