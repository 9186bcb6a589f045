"""The words stored in the `migrator` schema: a run's status, an event's kind and status.

These strings are the contract: they are what `migrator.runs.status`,
`migrator.events.kind` and `migrator.events.status` hold, and what `--output json`
prints. A `StrEnum` member is equal to its string, so a value read back from the
database compares equal to the member that wrote it.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """Where a run is in its life (`migrator.runs.status`); the run machine's states."""

    PENDING = "pending"
    PRECHECKING = "prechecking"
    AWAITING_APPROVAL = "awaiting_approval"
    APPLYING = "applying"
    VERIFYING = "verifying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNDOING = "undoing"
    UNDONE = "undone"
    UNDO_FAILED = "undo_failed"
    INTERRUPTED = "interrupted"


# A run in one of these is over: nothing resumes it.
FINAL_STATUSES = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.UNDONE})
# A run in one of these has finished, but blocks its plan until resumed or rolled back.
UNSETTLED_STATUSES = frozenset({RunStatus.UNDO_FAILED})


class EventKind(StrEnum):
    """What an event of the audit trail is about (`migrator.events.kind`)."""

    STATE = "state"  # the run changed status; the event's status is the new `RunStatus`
    STEP = "step"
    UNDO = "undo"  # the undo of a step
    CHECK = "check"
    APPROVAL = "approval"
    LOCK = "lock"
    HOOK = "hook"  # a plugin's hook raised


class EventStatus(StrEnum):
    """What happened (`migrator.events.status`), for every kind but `state`."""

    STARTED = "started"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    RETRY = "retry"
    PASSED = "passed"  # a check's verdicts
    WARNED = "warned"
    APPROVED = "approved"  # an approval's
    DECLINED = "declined"
    REACQUIRED = "reacquired"  # the plan's lock, after its connection was lost
    # a step a rollback passed without undoing it (`rollback: irreversible`, taken back
    # with `rollback --force`): its effect stays
    NOT_UNDONE = "not_undone"
    UNLOCKED = "unlocked"  # the plan's lock, taken from a frozen holder by `migrator unlock`
