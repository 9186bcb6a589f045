"""What an approval asks at a terminal, and what is said when it is not given: the
hotfix or the transition by name (never "Apply apply"), and no terminal to ask on said
as such (never "declined by" a person who was not asked)."""

from __future__ import annotations

import io
from typing import Any

from migrator import api
from migrator.errors import ExitCode

PHASED = """\
plan: gated
phases: [a, b]
transitions:
  - name: cutover
    from: a
    to: b
    approval: true
    risk: high
    steps: [{sql: create table gated_t (x int), rollback: {sql: drop table gated_t}}]
"""

HOTFIX = """\
plan: IR-07
kind: hotfix
approval: true
risk: medium
steps:
  - {sql: create table fix_t (x int), rollback: {sql: drop table fix_t}}
"""


class Terminal:
    """A person at a terminal answering `answer` to every question, and what was asked."""

    def __init__(self, database: str, answer: bool) -> None:
        self.answer = answer
        self.asked: list[str] = []
        self.out = io.StringIO()
        self.ctx = api.Context(
            out=self.out,
            err=io.StringIO(),
            dsn=database,
            interactive=True,
            confirm=self.confirm,
            operator="dana",
        )

    def confirm(self, question: str) -> bool:
        self.asked.append(question)
        return self.answer


def test_without_a_terminal_it_says_there_was_none_to_ask_on(
    migrator: Any, write_plan: Any, sql: Any
) -> None:
    result = migrator("apply", write_plan(PHASED), "--to", "b", "--operator", "root")
    assert result.code == ExitCode.CHECK_FAILED
    assert "✗ not approved: no terminal to ask on; pass --yes to approve\n" in result.out
    assert "by root" not in result.out
    assert sql("select status, detail->>'reason' from migrator.events where kind = 'approval'") == [
        ("declined", "no terminal to ask on; pass --yes to approve")
    ]


def test_a_transition_is_asked_by_name_and_a_no_says_who(
    database: str, write_plan: Any, sql: Any
) -> None:
    person = Terminal(database, answer=False)
    assert api.apply(person.ctx, write_plan(PHASED), "b") == ExitCode.CHECK_FAILED
    assert person.asked == ["Run transition cutover of plan gated (a -> b, risk high)?"]
    assert "✗ not approved: declined at the terminal by dana\n" in person.out.getvalue()
    assert sql("select to_regclass('gated_t')") == [(None,)]


def test_its_undo_is_asked_as_the_undo_of_it(migrator: Any, database: str, write_plan: Any) -> None:
    plan = write_plan(PHASED)
    assert migrator("apply", plan, "--to", "b", "--yes").code == 0
    person = Terminal(database, answer=True)
    assert api.rollback(person.ctx, plan) == ExitCode.OK
    assert person.asked == ["Undo transition cutover of plan gated (b -> a, risk high)?"]


def test_a_hotfix_is_asked_as_the_hotfix(database: str, write_plan: Any, sql: Any) -> None:
    plan = write_plan(HOTFIX)
    person = Terminal(database, answer=True)
    assert api.apply(person.ctx, plan) == ExitCode.OK
    assert api.rollback(person.ctx, plan) == ExitCode.OK
    assert person.asked == [
        "Apply the hotfix IR-07 (pending -> applied, risk medium)?",
        "Undo the hotfix IR-07 (applied -> pending, risk medium)?",
    ]
    assert sql("select to_regclass('fix_t')") == [(None,)]
