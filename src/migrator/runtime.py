"""Deprecated: import these names from `migrator.plugin` instead.

`migrator.runtime` moved to `migrator.plugin.checkpoints`.
Kept for one release, so that plugins written against the 0.1 guide still
load; importing it warns (DeprecationWarning).
"""

import warnings

from migrator.plugin import Checkpoint as Checkpoint
from migrator.plugin import Control as Control
from migrator.plugin import load_checkpoint as load_checkpoint
from migrator.plugin import lock_checkpoint as lock_checkpoint
from migrator.plugin import read_control as read_control
from migrator.plugin import save_checkpoint as save_checkpoint

warnings.warn(
    "migrator.runtime is deprecated and will be removed in the next release: "
    "import its names from migrator.plugin",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = [
    "Checkpoint",
    "Control",
    "load_checkpoint",
    "lock_checkpoint",
    "read_control",
    "save_checkpoint",
]
