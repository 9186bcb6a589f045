"""Deprecated: import these names from `migrator.plugin` instead.

`migrator.sqltext` moved to `migrator.db.sqltext`.
Kept for one release, so that plugins written against the 0.1 guide still
load; importing it warns (DeprecationWarning).
"""

import warnings

from migrator.plugin import SqlTextError as SqlTextError
from migrator.plugin import Statement as Statement
from migrator.plugin import execute as execute
from migrator.plugin import fetch_rows as fetch_rows
from migrator.plugin import statements as statements

warnings.warn(
    "migrator.sqltext is deprecated and will be removed in the next release: "
    "import its names from migrator.plugin",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["SqlTextError", "Statement", "execute", "fetch_rows", "statements"]
