"""The state migrator keeps in the target database: schema `migrator`.

Every query of migrator's own tables lives in this package, one module a table:
`schema` (creating and upgrading it from `migrations/*.sql`), `runs`, `phases`
(`plan_state`), `events` (the audit trail, hash-chained) and `chain` (verifying it),
`checkpoints`, `controls`, `flags` and `locks`; `seed` copies a plan's phase and the
flags into a rehearsal's scratch database; `kinds` holds the words stored in it
(`RunStatus`, `EventKind`, `EventStatus`).

This module re-exports what the core calls; the plugin API (`migrator.plugin`) re-exports
the checkpoint, control and flag functions a plugin may use. Nothing here imports
SQLAlchemy before a query runs (`sql.text`): plugins import it while `migrator validate`
loads no database library.
"""

from __future__ import annotations

from migrator.state.chain import Break, Trail, TrailEdited, refuse_edited, verify_run, verify_runs
from migrator.state.controls import Control, read_control, write_control
from migrator.state.events import (
    ChainMoved,
    EventRow,
    Link,
    approved,
    events_of,
    interrupted_from,
    last_step_done,
    record_event,
    seal_chain,
    step_indexes,
    steps_done,
    steps_unended,
    write_event,
)
from migrator.state.kinds import (
    FINAL_STATUSES,
    UNSETTLED_STATUSES,
    EventKind,
    EventStatus,
    RunStatus,
)
from migrator.state.phases import current_phase, set_phase
from migrator.state.runs import (
    RunRow,
    create_run,
    get_run,
    last_succeeded_run,
    open_run,
    owner_of,
    owns_run,
    runs_of,
    runs_taking_back,
    set_run_status,
    take_run,
)
from migrator.state.schema import (
    MIGRATIONS,
    SCHEMA,
    SCHEMA_VERSION,
    ensure_schema,
    schema_exists,
    table_exists,
)

__all__ = [
    "FINAL_STATUSES",
    "MIGRATIONS",
    "SCHEMA",
    "SCHEMA_VERSION",
    "UNSETTLED_STATUSES",
    "Break",
    "ChainMoved",
    "Control",
    "EventKind",
    "EventRow",
    "EventStatus",
    "Link",
    "RunRow",
    "RunStatus",
    "Trail",
    "TrailEdited",
    "approved",
    "create_run",
    "current_phase",
    "ensure_schema",
    "events_of",
    "get_run",
    "interrupted_from",
    "last_step_done",
    "last_succeeded_run",
    "open_run",
    "owner_of",
    "owns_run",
    "read_control",
    "record_event",
    "refuse_edited",
    "runs_of",
    "runs_taking_back",
    "schema_exists",
    "seal_chain",
    "set_phase",
    "set_run_status",
    "step_indexes",
    "steps_done",
    "steps_unended",
    "table_exists",
    "take_run",
    "verify_run",
    "verify_runs",
    "write_control",
    "write_event",
]
