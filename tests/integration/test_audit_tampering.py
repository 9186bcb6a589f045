"""An edited audit trail is found and refused: `history --verify` names every broken
link (exit 2), `rollback` and `resume` refuse to act on the run (exit 2) and change
nothing: no step undone or run, no run created, no event written.

Each tampering is what someone with write access to schema `migrator` could do by hand:
edit an event's detail, status, step or time, delete an event in the middle or at the
end, insert a forged one, swap two.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.faults.gates import run_held_at
from tests.plans import phased, traced
from tests.processes import sigkill

PLAN = phased(
    "audited",
    [traced("one"), traced("two"), traced("three")],
    post_checks=["{query: select count(*) from ran, expect: 3}"],
)

STEP_TWO = "run_id = 1 and kind = 'step' and status = 'done' and step = 'two'"
SWAP = """
with a as (select * from migrator.events where run_id = 1 and step = 'one' and status = 'done'),
     b as (select * from migrator.events where run_id = 1 and step = 'two' and status = 'done')
update migrator.events e set at = o.at, step = o.step, kind = o.kind, status = o.status,
    detail = o.detail, seq = o.seq, prev_hash = o.prev_hash, hash = o.hash
from (select a.id as target, b.* from a, b union all select b.id, a.* from a, b) as o
where e.id = o.target
"""

# name: (the SQL that tampers with run 1's trail, the event named first (picked before
# the change, else after it), what is said of it)
TAMPERINGS: dict[str, tuple[str, str, str]] = {
    "a detail edited": (
        "update migrator.events set detail = jsonb_set(detail, '{memo}', "
        f"'\"true); create table pwned (x int); --\"') where {STEP_TWO}",
        STEP_TWO,
        "content was edited",
    ),
    "a status edited": (
        f"update migrator.events set status = 'skipped' where {STEP_TWO}",
        STEP_TWO,
        "content was edited",
    ),
    "a step name edited": (
        f"update migrator.events set step = 'three' where {STEP_TWO}",
        STEP_TWO,
        "content was edited",
    ),
    "a time edited": (
        f"update migrator.events set at = at - interval '1 hour' where {STEP_TWO}",
        STEP_TWO,
        "content was edited",
    ),
    "an event deleted in the middle": (
        f"delete from migrator.events where {STEP_TWO}",
        "run_id = 1 and kind = 'step' and status = 'started' and step = 'three'",
        "1 event missing before it",
    ),
    "the last event deleted": (
        "delete from migrator.events where id = (select max(id) from migrator.events "
        "where run_id = 1)",
        "",
        "the last 1 event of the run is missing",
    ),
    "a forged event inserted": (
        "insert into migrator.events (run_id, step, kind, status, detail) values "
        "(1, 'forged', 'step', 'done', '{\"index\": 9}')",
        "run_id = 1 and step = 'forged'",
        "no hash",
    ),
    "two events swapped": (
        SWAP,
        "run_id = 1 and kind = 'step' and status = 'done' and step = 'one'",
        "2 events missing before it",
    ),
}


@pytest.fixture
def plan(write_plan: Any, sql: Any) -> Path:
    sql("create table ran (step text); create table undone (step text)")
    return write_plan(PLAN)  # type: ignore[no-any-return]


def snapshot(sql: Any) -> list[Any]:
    """All that a refused command must leave as it was."""
    return [
        sql("select id, status, chain_length from migrator.runs order by id"),
        sql("select count(*), max(id) from migrator.events"),
        sql("select step from ran order by step"),
        sql("select step from undone order by step"),
        sql("select phase from migrator.plan_state"),
    ]


def first_broken(sql: Any, where: str) -> str:
    """How a refusal names the event `where` picks ("" : the end of the trail)."""
    if not where:
        return "the end of the trail"
    found = sql(f"select id from migrator.events where {where}")
    return f"event {found[0][0]}" if found else ""


def tamper(sql: Any, tampering: str) -> str:
    """Tamper with run 1's trail; how a refusal names its first broken event."""
    change, where, _ = TAMPERINGS[tampering]
    named = first_broken(sql, where)
    sql(change)
    return named or first_broken(sql, where)


@pytest.mark.parametrize("tampering", list(TAMPERINGS))
def test_an_edited_trail_is_named_by_verify_and_refused_by_rollback(
    tampering: str, plan: Path, migrator: Any, sql: Any
) -> None:
    assert migrator("apply", plan, "--to", "b").code == 0
    assert migrator("history", plan, "--verify").code == 0
    named = tamper(sql, tampering)
    problem = TAMPERINGS[tampering][2]
    verified = migrator("history", plan, "--verify")
    assert verified.code == 2, verified.out + verified.err
    assert "trail of run 1: BROKEN" in verified.out
    lines = verified.out.splitlines()
    verdict = next(i for i, line in enumerate(lines) if "trail of run 1: BROKEN" in line)
    broken = [line.strip() for line in lines[verdict + 1 :] if line.startswith("    ")]
    assert broken[0].startswith(named.replace("the end of the trail", "at its end"))
    assert problem in broken[0]
    document = json.loads(migrator("history", plan, "--verify", "--output", "json").out)
    assert document["intact"] is False
    breaks = document["runs"][0]["trail"]["breaks"]
    assert breaks[0]["event_id"] == (int(named.split()[1]) if named.startswith("event") else None)

    before = snapshot(sql)
    refused = migrator("rollback", plan)
    assert refused.code == 2, refused.out + refused.err
    assert f"the audit trail of run 1 was edited: {named}: " in refused.err
    assert snapshot(sql) == before  # nothing undone, no run made, no event written
    if tampering == "two events swapped":  # and the event swapped in is out of order
        assert "out of order" in breaks[1]["problem"]


def test_an_intact_trail_verifies_and_rolls_back(plan: Path, migrator: Any, sql: Any) -> None:
    assert migrator("apply", plan, "--to", "b").code == 0
    verified = migrator("history", plan, "--verify")
    assert verified.code == 0, verified.out + verified.err
    (head,) = sql("select encode(chain_head, 'hex') from migrator.runs where id = 1")[0]
    assert f"trail of run 1: intact (11 events, head {head})" in verified.out
    assert migrator("rollback", plan).code == 0
    assert sql("select step from undone order by step") == [("one",), ("three",), ("two",)]
    # the run taken back, and the rollback's own run, both intact
    document = json.loads(migrator("history", plan, "--verify", "--output", "json").out)
    assert [(r["id"], r["trail"]["intact"]) for r in document["runs"]] == [(1, True), (2, True)]


@pytest.fixture
def interrupted(plan: Path, database: str, sql: Any) -> Path:
    """Run 1 of `plan`, its process killed as step three started: steps one and two done."""
    with run_held_at(
        database, ["apply", plan, "--to", "b"], kind="step", status="started", step="three"
    ) as (proc, gate):
        sigkill(proc)
        gate.open()
    assert sql("select step from ran order by step") == [("one",), ("two",)]
    return plan


@pytest.mark.parametrize(
    "tampering", ["a detail edited", "the last event deleted", "a forged event inserted"]
)
@pytest.mark.parametrize("command", ["resume", "rollback"])
def test_an_interrupted_run_with_an_edited_trail_is_not_settled(
    command: str, tampering: str, interrupted: Path, migrator: Any, sql: Any
) -> None:
    named = tamper(sql, tampering)
    before = snapshot(sql)
    refused = migrator(command, interrupted)
    assert refused.code == 2, refused.out + refused.err
    assert f"the audit trail of run 1 was edited: {named}: " in refused.err
    assert snapshot(sql) == before
    # `apply`, which would resume it, refuses the same way
    assert migrator("apply", interrupted, "--to", "b").code == 2
    assert snapshot(sql) == before


def test_an_interrupted_run_whose_trail_is_intact_is_settled(
    interrupted: Path, migrator: Any, sql: Any
) -> None:
    result = migrator("resume", interrupted)
    assert result.code == 0, result.out + result.err
    assert sql("select step from ran order by step") == [("one",), ("three",), ("two",)]
    assert migrator("history", interrupted, "--verify").code == 0
