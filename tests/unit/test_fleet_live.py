"""What `fleet apply` shows: the live table's rows, its narrow layout, the lines as
targets end, all masked (views/fleet_live.py)."""

from __future__ import annotations

import io

from rich.console import Console

from migrator.fleet.ledger import TargetRecord
from migrator.masking import Secrets
from migrator.views.fleet_live import FleetView, summary_line


def view(secrets: Secrets | None = None) -> tuple[FleetView, list[str]]:
    lines: list[str] = []
    shown = FleetView(
        lines.append,
        secrets or Secrets(),
        io.StringIO(),
        terminal=False,
        targets=[("acme", "rest"), ("beta", "rest")],
    )
    return shown, lines


def drawn(shown: FleetView, width: int) -> str:
    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None)
    shown._console = console
    console.print(shown._table())
    return out.getvalue()


def test_the_table_shows_the_step_a_target_started_last() -> None:
    shown, _ = view()
    shown.target_started("acme", "legacy", 2)
    shown.target_event("acme", {"kind": "step", "status": "started", "step": "copy rows"})
    shown.target_event("acme", {"kind": "step", "status": "done", "step": "copy rows"})
    shown.target_event("acme", {"kind": "step", "status": "started", "step": "swap names"})
    table = drawn(shown, 100)
    row = next(line for line in table.splitlines() if line.startswith("acme"))
    assert "running: legacy" in row and "swap names" in row and "copy rows" not in row
    assert " 2 " in row  # attempts


def test_a_narrow_terminal_keeps_target_state_and_elapsed() -> None:
    shown, _ = view()
    shown.target_started("acme", "legacy", 1)
    table = drawn(shown, 40)
    assert all(len(line) <= 40 for line in table.splitlines())
    assert "state" in table and "elapsed" in table and "tries" not in table


def test_the_lines_as_targets_end_are_masked() -> None:
    secrets = Secrets()
    secrets.add("hunter2-secret")
    shown, lines = view(secrets)
    shown.target_started("acme", "legacy", 1)
    record = TargetRecord(wave="rest", state="moved", from_phase="legacy", runs=[12], attempts=1)
    shown.target_ended("acme", record, "dual", skipped=False)
    failed = TargetRecord(
        wave="rest", state="failed", exit_code=1, attempts=1, message="password hunter2-secret"
    )
    shown.target_ended("beta", failed, "dual", skipped=False)
    shown.retrying("beta", 5, 5.0, 2, 4)
    assert lines[0].startswith("✓ acme: legacy -> dual (run 12, ")
    assert "hunter2" not in lines[1] and lines[1].startswith("✗ beta: exit 1 — password ")
    assert lines[2] == "↻ beta: exit 5, trying again in 5.0 s (attempt 2 of 4)"


def test_the_summary_counts_every_state() -> None:
    assert summary_line({"moved": 3, "failed": 1, "not_started": 2}) == (
        "3 moved, 0 already in the phase, 1 failed, 2 not started, 0 unreachable"
    )
    assert summary_line({"running": 1}).endswith("1 stopped under way")


def test_a_waves_end_says_its_states_in_the_rollout_summarys_words() -> None:
    shown, lines = view()
    shown.wave_ended("rest", {"moved": 1, "pending": 2, "not_started": 1, "in_phase": 1})
    assert lines[-1] == "wave rest ended: 1 moved, 3 not started, 1 already in the phase"
    assert "pending" not in lines[-1]
    assert "2 not started" in summary_line({"not_started": 2})


def test_a_commands_advice_names_its_target() -> None:
    from migrator.views.fleet_live import with_target

    advice = "`migrator resume q.yaml` or `migrator rollback q.yaml` settles it"
    assert with_target("acme", advice) == (
        f"{advice} (on target acme: its DSN in --dsn or MIGRATOR_DSN)"
    )
    assert with_target("acme", "exit 1") == "exit 1"


def test_a_step_name_is_text_never_markup() -> None:
    shown, _ = view()
    shown.target_started("acme", "legacy", 1)
    shown.target_event("acme", {"kind": "step", "status": "started", "step": "[bold]x[/] go[/]"})
    table = drawn(shown, 100)  # `[/]` as markup would raise a MarkupError here
    assert "[bold]x[/] go[/]" in table


def test_lines_cannot_drive_the_terminal() -> None:
    shown, lines = view()
    shown.say("acme: database \x1b[31mred\x1b]0;title\x07 does not exist")
    assert "\x1b" not in lines[0] and "\x07" not in lines[0]
    assert "\\x1b[31mred" in lines[0]  # written visibly, as \x1b
