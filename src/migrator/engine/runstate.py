"""The life of a run, as a state machine (`transitions`) driving a separate run object.

    pending -> prechecking -> [awaiting_approval] -> applying -> verifying -> succeeded
    prechecking | awaiting_approval -> failed          (nothing was applied)
    applying | verifying -> undoing -> undone | undo_failed
    any live state -> interrupted                      (found dead: killed, connection lost)
    interrupted -> prechecking (resume) | undoing (rollback, or resume of an undo)
    undo_failed -> undoing                              (resume or rollback retries the undo)
    undo_failed -> prechecking      (a rollback run: resume or rollback finish its steps)

transitions rolls nothing back when a callback raises; every change of state is
written to the database by `after_state_change` before the next one begins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from transitions import EventData, Machine

from migrator.state.kinds import RunStatus

# The machine's states are the statuses a run has in `migrator.runs`: one enum, stored as is.
RunState = RunStatus
S = RunState
LIVE = [S.PENDING, S.PRECHECKING, S.AWAITING_APPROVAL, S.APPLYING, S.VERIFYING, S.UNDOING]

TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "start", "source": S.PENDING, "dest": S.PRECHECKING},
    {"trigger": "await_approval", "source": S.PRECHECKING, "dest": S.AWAITING_APPROVAL},
    {"trigger": "apply_steps", "source": [S.PRECHECKING, S.AWAITING_APPROVAL], "dest": S.APPLYING},
    {"trigger": "verify", "source": S.APPLYING, "dest": S.VERIFYING},
    {"trigger": "succeed", "source": S.VERIFYING, "dest": S.SUCCEEDED},
    {"trigger": "fail", "source": [S.PRECHECKING, S.AWAITING_APPROVAL], "dest": S.FAILED},
    {
        "trigger": "undo",
        "source": [S.APPLYING, S.VERIFYING, S.INTERRUPTED, S.UNDO_FAILED],
        "dest": S.UNDOING,
    },
    {"trigger": "undo_complete", "source": S.UNDOING, "dest": S.UNDONE},
    {"trigger": "undo_broke", "source": S.UNDOING, "dest": S.UNDO_FAILED},
    {"trigger": "interrupt", "source": LIVE, "dest": S.INTERRUPTED},
    {"trigger": "resume", "source": [S.INTERRUPTED, S.UNDO_FAILED], "dest": S.PRECHECKING},
]


class RunModel:
    """What the machine drives: the run's id and state, and how a change is recorded."""

    state: RunState

    def __init__(self, run_id: int, record: Callable[[RunState, RunState, str], None]) -> None:
        self.run_id = run_id
        self._record = record

    def record_state_change(self, event: EventData) -> None:
        """Write the change to the audit trail before anything else happens."""
        reason = str(event.kwargs.get("reason", ""))
        assert event.transition is not None
        source, dest = event.transition.source, str(event.transition.dest)  # member names
        self._record(RunStatus[source], RunStatus[dest], reason)

    if TYPE_CHECKING:  # triggers, added to the model by the machine

        def start(self, **kwargs: Any) -> bool: ...
        def await_approval(self, **kwargs: Any) -> bool: ...
        def apply_steps(self, **kwargs: Any) -> bool: ...
        def verify(self, **kwargs: Any) -> bool: ...
        def succeed(self, **kwargs: Any) -> bool: ...
        def fail(self, **kwargs: Any) -> bool: ...
        def undo(self, **kwargs: Any) -> bool: ...
        def undo_complete(self, **kwargs: Any) -> bool: ...
        def undo_broke(self, **kwargs: Any) -> bool: ...
        def interrupt(self, **kwargs: Any) -> bool: ...
        def resume(self, **kwargs: Any) -> bool: ...


def drive(model: RunModel, initial: RunState) -> Machine:
    """Attach the run machine to `model`, starting in `initial`."""
    return Machine(
        model=model,
        states=RunState,
        transitions=TRANSITIONS,
        initial=initial,
        auto_transitions=False,
        send_event=True,
        after_state_change="record_state_change",
    )
