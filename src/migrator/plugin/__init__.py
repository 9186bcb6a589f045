"""The plugin API: everything a plugin may use, in one file a plugin author reads.

A plugin imports `migrator` (the hook marker, the specs, the contexts) and this module,
nothing else of migrator's: what is not exported here may change in any release. The
built-in plugins in `plugins/` are held to that by a test (tests/unit/test_plugin_contract.py).
The hook specifications, with when each is called, are in `migrator.plugin.hookspecs`;
docs/plugins.md is the guide.

Importing this module loads neither the engine nor a database driver, nor the plan
models: the names from `migrator.plan` are imported when first used (`migrator --help`
stays quick).
"""

from typing import TYPE_CHECKING

# Check SQL: what a check may not send (`check_sql_problems`, for a check's own lint),
# the role a probe runs as (`run_as`), what a check's guard raises, a statement's words.
from migrator.db.checksql import CheckSqlRefused as CheckSqlRefused
from migrator.db.checksql import run_as as run_as
from migrator.db.checksql import sql_problems as check_sql_problems
from migrator.db.checksql import words as sql_words

# Waiting for locks: at most the step's lock_timeout, and naming who made the wait.
from migrator.db.lockwait import Blocker as Blocker
from migrator.db.lockwait import LockNotGranted as LockNotGranted
from migrator.db.lockwait import set_lock_timeout as set_lock_timeout
from migrator.db.lockwait import watch_locks as watch_locks

# Connections: telling a lost connection, and opening one again within the window.
from migrator.db.reconnect import connect_again as connect_again
from migrator.db.reconnect import is_connection_lost as is_connection_lost
from migrator.db.retry import LOCK_BACKOFF as LOCK_BACKOFF

# Retrying work that failed for a reason that passes (ENGINE: one loop for engine and plugins).
from migrator.db.retry import Backoff as Backoff
from migrator.db.retry import Transient as Transient
from migrator.db.retry import any_of as any_of
from migrator.db.retry import conflict as conflict
from migrator.db.retry import lock_pause as lock_pause
from migrator.db.retry import lock_timeout as lock_timeout
from migrator.db.retry import lost_connection as lost_connection
from migrator.db.retry import retry as retry

# SQL text: statements split as PostgreSQL reads them, `:name` parameters bound.
from migrator.db.sqltext import REPEATABLE as REPEATABLE
from migrator.db.sqltext import SqlTextError as SqlTextError
from migrator.db.sqltext import Statement as Statement
from migrator.db.sqltext import execute as execute
from migrator.db.sqltext import fetch_rows as fetch_rows
from migrator.db.sqltext import statements as statements

# What `migrator_command_start` raises for an option's value it cannot use (exit 2).
from migrator.errors import UsageError as UsageError

# Lint: a rule, what it found, the SQL a step sends (`ActionSpec.rules`, `lint`, `sql_texts`).
from migrator.lint.findings import LintFinding as LintFinding
from migrator.lint.findings import LintRule as LintRule
from migrator.lint.findings import SqlText as SqlText

# Strings in nested data (a JSON body): every one changed, e.g. interpolated.
from migrator.nested import map_strings as map_strings

# Steps that commit as they go: checkpoints committed with each batch, live controls.
from migrator.plugin.checkpoints import Checkpoint as Checkpoint
from migrator.plugin.checkpoints import Control as Control
from migrator.plugin.checkpoints import RunNotOwned as RunNotOwned
from migrator.plugin.checkpoints import checkpoint_position_sql as checkpoint_position_sql
from migrator.plugin.checkpoints import load_checkpoint as load_checkpoint
from migrator.plugin.checkpoints import lock_checkpoint as lock_checkpoint
from migrator.plugin.checkpoints import read_control as read_control
from migrator.plugin.checkpoints import save_checkpoint as save_checkpoint

# What an action or a check receives, and what it returns or raises.
from migrator.plugin.context import CheckContext as CheckContext
from migrator.plugin.context import CheckOutcome as CheckOutcome
from migrator.plugin.context import NotAsLeft as NotAsLeft
from migrator.plugin.context import Progress as Progress
from migrator.plugin.context import StepContext as StepContext
from migrator.plugin.context import StepError as StepError
from migrator.plugin.context import StopRequested as StopRequested

# Flags: the store interface the `migrator_flag_store` hook returns.
from migrator.plugin.flags import MISSING as MISSING
from migrator.plugin.flags import FlagStore as FlagStore

# Hook implementations, and what the registration hooks register.
from migrator.plugin.hookspecs import hookimpl as hookimpl
from migrator.plugin.registry import ActionSpec as ActionSpec
from migrator.plugin.registry import CheckSpec as CheckSpec
from migrator.plugin.registry import OptionSpec as OptionSpec
from migrator.plugin.registry import PlanKeySpec as PlanKeySpec
from migrator.plugin.registry import Undo as Undo

# What the hooks that tell the world about runs are given (notifications, metrics, traces).
from migrator.plugin.reporting import CommandInfo as CommandInfo
from migrator.plugin.reporting import PerCommand as PerCommand
from migrator.plugin.reporting import ProgressReport as ProgressReport
from migrator.plugin.reporting import RunEvent as RunEvent
from migrator.plugin.reporting import RunInfo as RunInfo

# Row level security: the findings of `migrator audit rls`.
from migrator.rls.holes import Finding as Finding
from migrator.rls.holes import FindingKind as FindingKind
from migrator.rls.holes import find_rls_holes as find_rls_holes
from migrator.rls.holes import missing_schemas as missing_schemas
from migrator.rls.holes import missing_tables as missing_tables
from migrator.rls.holes import select_findings as select_findings
from migrator.rls.holes import split_table as split_table

# The default flag store's table, `migrator.flags` (STATE: its queries live in migrator.state);
# flags set from a secret, marked by store and name, and what their undo puts back kept
# outside the audit trail (migrator.secret_flags, migrator.kept_flag_values).
from migrator.state.flags import delete_flag as delete_flag
from migrator.state.flags import flag_is_secret as flag_is_secret
from migrator.state.flags import keep_flag_values as keep_flag_values
from migrator.state.flags import kept_flag_values as kept_flag_values
from migrator.state.flags import mark_flag_secret as mark_flag_secret
from migrator.state.flags import read_flag as read_flag
from migrator.state.flags import write_flag as write_flag

# Durations as every view writes them (`12 ms`, `1.5 s`).
from migrator.views.durations import elapsed as elapsed

__all__ = [
    "LOCK_BACKOFF",
    "MISSING",
    "REPEATABLE",
    "ActionSpec",
    "Backoff",
    "Blocker",
    "CheckContext",
    "CheckOutcome",
    "CheckSpec",
    "CheckSqlRefused",
    "Checkpoint",
    "CommandInfo",
    "Comparison",
    "Control",
    "EqualsQuery",
    "Expectation",
    "Finding",
    "FindingKind",
    "FlagStore",
    "LintFinding",
    "LintRule",
    "LockNotGranted",
    "NotAsLeft",
    "OptionSpec",
    "PerCommand",
    "PlanKeySpec",
    "Progress",
    "ProgressReport",
    "RunEvent",
    "RunInfo",
    "RunNotOwned",
    "SqlText",
    "SqlTextError",
    "Statement",
    "StepContext",
    "StepError",
    "StopRequested",
    "Transient",
    "Undo",
    "UsageError",
    "any_of",
    "check_sql_problems",
    "checkpoint_position_sql",
    "compare_rows",
    "conflict",
    "connect_again",
    "delete_flag",
    "elapsed",
    "execute",
    "fetch_rows",
    "find_rls_holes",
    "flag_is_secret",
    "hookimpl",
    "is_connection_lost",
    "judge",
    "keep_flag_values",
    "kept_flag_values",
    "load_checkpoint",
    "lock_checkpoint",
    "lock_pause",
    "lock_timeout",
    "lost_connection",
    "map_strings",
    "mark_flag_secret",
    "missing_schemas",
    "missing_tables",
    "parse_duration",
    "parse_expectation",
    "read_control",
    "read_flag",
    "retry",
    "run_as",
    "save_checkpoint",
    "select_findings",
    "server_timeout",
    "set_lock_timeout",
    "split_table",
    "sql_words",
    "statements",
    "watch_locks",
    "write_flag",
]

if TYPE_CHECKING:
    # Checks: the generic expectation (a value, "OP VALUE", {equals_query: SQL}), its verdict.
    from migrator.plan.expect import Comparison as Comparison
    from migrator.plan.expect import EqualsQuery as EqualsQuery
    from migrator.plan.expect import Expectation as Expectation
    from migrator.plan.expect import compare_rows as compare_rows
    from migrator.plan.expect import judge as judge
    from migrator.plan.expect import parse_expectation as parse_expectation

    # Plan values: durations as plans write them ("30s", "5m", 90).
    from migrator.plan.fields import parse_duration as parse_duration
    from migrator.plan.fields import server_timeout as server_timeout

_FROM_PLAN = {
    "Comparison": "migrator.plan.expect",
    "EqualsQuery": "migrator.plan.expect",
    "Expectation": "migrator.plan.expect",
    "compare_rows": "migrator.plan.expect",
    "judge": "migrator.plan.expect",
    "parse_expectation": "migrator.plan.expect",
    "parse_duration": "migrator.plan.fields",
    "server_timeout": "migrator.plan.fields",
}


def __getattr__(name: str) -> object:
    """A name from `migrator.plan`, imported on first use (the plan package loads its models)."""
    module = _FROM_PLAN.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
