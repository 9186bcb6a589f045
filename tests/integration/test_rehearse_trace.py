"""`migrator rehearse`'s trace: the locks each step took, what it rewrote, the constraints and
indexes it made, read from the scratch copy on whatever major the tests run on."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from migrator.lint.findings import LintFinding, LintRule

TABLE = """
create table items (id int primary key, name text not null, kind int, owner_id int);
create table owners (id int primary key);
"""

# The "done when": CREATE POLICY, ALTER COLUMN TYPE and CREATE INDEX.
DANGEROUS = """\
plan: traced
phases: [before, after]
transitions:
  - name: tighten
    from: before
    to: after
    steps:
      - name: everyone reads items
        policy: {table: items, name: items are public, command: select, to: public, using: "true"}
      - name: kind becomes a bigint
        sql: alter table items alter column kind type bigint
        rollback: {sql: alter table items alter column kind type int}
      - name: index the name
        sql: create index items_name_idx on items (name)
        rollback: {sql: drop index items_name_idx}
"""

SAFER = """\
plan: safer
phases: [before, after]
transitions:
  - name: link
    from: before
    to: after
    steps:
      - name: a new table
        sql: create table tags (id int primary key, item_id int references items (id))
        rollback: {sql: drop table tags}
      - name: the owner, not valid
        sql: |
          alter table items add constraint items_owner_fk
            foreign key (owner_id) references owners (id) not valid
        rollback: {sql: alter table items drop constraint items_owner_fk}
      - name: validated
        sql: alter table items validate constraint items_owner_fk
        rollback: {sql: select 1}
      - name: index the name concurrently
        autocommit: true
        sql: create index concurrently items_name_idx on items (name)
        rollback: {sql: drop index concurrently items_name_idx, autocommit: true}
"""


@pytest.fixture(autouse=True)
def items(sql: Any) -> None:
    sql(TABLE)


def trace_of(document: dict[str, Any], leg: str) -> dict[str, dict[str, Any]]:
    (trip,) = document["round_trips"]
    return {entry["step"]: entry for entry in trip["trace"] if entry["leg"] == leg}


def test_a_policy_a_type_change_and_an_index_show_their_locks_and_the_rewrite(
    rehearse: Any, write_plan: Any
) -> None:
    result = rehearse(write_plan(DANGEROUS), "--output", "json")

    assert result.code == 0, result.out + result.err
    document = json.loads(result.out)
    forward = trace_of(document, "forward")
    assert list(forward) == ["everyone reads items", "kind becomes a bigint", "index the name"]
    policy, retype, index = forward.values()
    assert {"relation": "public.items", "mode": "AccessExclusiveLock"} in policy["locks"]
    assert policy["rewritten"] == []
    assert retype["locks"][0] == {"relation": "public.items", "mode": "AccessExclusiveLock"}
    assert retype["rewritten"] == ["public.items"]
    assert index["locks"] == [{"relation": "public.items", "mode": "ShareLock"}]
    assert index["rewritten"] == []
    assert index["indexes"] == [
        {"index": "public.items_name_idx", "relation": "public.items", "valid": True}
    ]
    assert all(e["locks_traced"] and e["transition"] == "tighten" for e in forward.values())
    # the plan's lint predicted the rewrite and the index's lock; the trace confirms both
    assert "changing-column-type" in retype["lint"]["confirmed"]
    assert "require-concurrent-index-creation" in index["lint"]["confirmed"]
    assert all(e["lint"]["refuted"] == [] for e in forward.values())
    # Each leg is traced: the way back undoes the steps, last first; forward again as forward.
    back = trace_of(document, "back")
    assert list(back) == [
        "undo index the name",
        "undo kind becomes a bigint",
        "undo everyone reads items",
    ]
    assert all(e["undo"] for e in back.values())
    assert back["undo kind becomes a bigint"]["rewritten"] == ["public.items"]
    assert back["undo index the name"]["locks"] == [
        {"relation": "public.items", "mode": "AccessExclusiveLock"},
        {"relation": "public.items_name_idx", "mode": "AccessExclusiveLock"},
    ]  # DROP INDEX: the table and the index, strongest first, then by name
    assert trace_of(document, "forward again")["kind becomes a bigint"]["rewritten"] == [
        "public.items"
    ]

    text = rehearse(write_plan(DANGEROUS)).out
    assert "forward 'everyone reads items': takes ACCESS EXCLUSIVE on public.items" in text, text
    assert (
        "forward 'kind becomes a bigint': takes ACCESS EXCLUSIVE on public.items and "
        "public.items_pkey; rewrites public.items"
    ) in text
    assert (
        "forward 'index the name': takes SHARE on public.items; builds index "
        "public.items_name_idx on public.items (valid)"
    ) in text
    assert (
        "back 'undo index the name': takes ACCESS EXCLUSIVE on public.items and "
        "public.items_name_idx"
    ) in text


def test_new_tables_not_valid_constraints_and_steps_outside_a_transaction(
    rehearse: Any, write_plan: Any
) -> None:
    result = rehearse(write_plan(SAFER), "--output", "json")

    assert result.code == 0, result.out + result.err
    forward = trace_of(json.loads(result.out), "forward")
    new_table = forward["a new table"]
    # The new table's own locks are left out; the table it references is locked.
    assert [lock["relation"] for lock in new_table["locks"]] == ["public.items"]
    assert new_table["constraints"][0]["relation"] == "public.tags"
    assert {c["type"] for c in new_table["constraints"]} >= {"primary key", "foreign key"}
    assert all(c["valid"] and c["change"] == "added" for c in new_table["constraints"])
    assert {i["index"] for i in new_table["indexes"]} == {"public.tags_pkey"}

    not_valid = forward["the owner, not valid"]
    assert not_valid["constraints"] == [
        {"relation": "public.items", "name": "items_owner_fk", "type": "foreign key",
         "valid": False, "change": "added"}
    ]  # fmt: skip
    assert not_valid["rewritten"] == []
    assert {"relation": "public.items", "mode": "ShareRowExclusiveLock"} in not_valid["locks"]

    validated = forward["validated"]
    assert validated["constraints"] == [
        {"relation": "public.items", "name": "items_owner_fk", "type": "foreign key",
         "valid": True, "change": "validated"}
    ]  # fmt: skip
    assert validated["locks"][0] == {
        "relation": "public.items",
        "mode": "ShareUpdateExclusiveLock",
    }

    concurrently = forward["index the name concurrently"]
    assert concurrently["locks_traced"] is False and concurrently["locks"] == []
    assert concurrently["indexes"] == [
        {"index": "public.items_name_idx", "relation": "public.items", "valid": True}
    ]
    text = rehearse(write_plan(SAFER)).out
    assert (
        "forward 'index the name concurrently': locks not traced (outside a transaction); "
        "builds index public.items_name_idx on public.items (valid)"
    ) in text


class Predicting:
    """A rule set of the test's: predicts what the trace will see (right and wrong)."""

    RULES = (LintRule("test-predicts", "predicts", "nothing"),)

    @staticmethod
    def check(step: Any) -> Iterable[LintFinding]:
        for _text, statement in step.statements():
            first = " ".join(w.value.lower() for w in statement[:4])
            if first.startswith("alter table items alter"):
                yield LintFinding("test-predicts", "rewrites", trace=("ITEMS", "rewrite"))
            if first.startswith("create index"):
                yield LintFinding(
                    "test-predicts", "too strong", trace=("public.items", "ExclusiveLock")
                )
                yield LintFinding("test-lock", "share", trace=('public."items"', "ShareLock"))


def test_lint_findings_are_confirmed_or_refuted_by_the_trace(
    rehearse: Any, write_plan: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from migrator.lint import runner

    monkeypatch.setattr(runner, "rule_sets", lambda: (Predicting,))

    result = rehearse(write_plan(DANGEROUS), "--output", "json")

    assert result.code == 0, result.out + result.err
    document = json.loads(result.out)
    forward = trace_of(document, "forward")
    assert forward["kind becomes a bigint"]["lint"] == {
        "confirmed": ["test-predicts"],
        "refuted": [],
    }
    assert forward["index the name"]["lint"] == {
        "confirmed": ["test-lock"],
        "refuted": ["test-predicts"],
    }
    back = trace_of(document, "back")  # the rollback steps' own lint judges their undo
    assert back["undo kind becomes a bigint"]["lint"] == {
        "confirmed": ["test-predicts"],
        "refuted": [],
    }
    assert back["undo index the name"]["lint"] == {"confirmed": [], "refuted": []}


def test_relation_names_compare_as_sql_writes_them() -> None:
    from migrator.rehearse.trace import StepTrace, judge, mode_words, same_relation, verdict

    assert same_relation("events", "public.events")
    assert same_relation("Events", "app.events")
    assert same_relation('app."Events"', "app.Events")
    assert not same_relation('"Events"', "public.events")
    assert not same_relation("app.events", "public.events")
    assert mode_words("ShareRowExclusiveLock") == "SHARE ROW EXCLUSIVE"
    outside = StepTrace("s", False, False, rewritten=["public.t"])
    lock = LintFinding("r", "m", trace=("t", "ShareLock"))
    assert verdict(lock, outside) is None  # locks not traced: no verdict
    assert verdict(LintFinding("r", "m", trace=("t", "rewrite")), outside) is True
    assert verdict(LintFinding("r", "m"), outside) is None
    inside = StepTrace("s", False, True, [{"relation": "public.t", "mode": "AccessExclusiveLock"}])
    assert verdict(lock, inside) is True  # a stronger lock than predicted confirms it
    # A rule is confirmed when one of its predictions holds, though another does not.
    judge(inside, [LintFinding("r", "m", trace=("t", "rewrite")), lock, lock])
    assert (inside.confirmed, inside.refuted) == (["r"], [])
    judge(inside, [LintFinding("r", "m", trace=("other", "ShareLock"))])
    assert (inside.confirmed, inside.refuted) == ([], ["r"])


def test_docs_shows_what_a_real_rehearsal_saw_each_step_and_its_undo_do(
    rehearse: Any, write_plan: Any, migrator: Any, tmp_path: Path
) -> None:
    """`docs --rehearsal` of the document `rehearse --output json` itself wrote: each step's
    trace beside its SQL, and its undo's (the way back that undid the steps) beside that."""
    plan = write_plan(SAFER)
    result = rehearse(plan, "--output", "json")
    assert result.code == 0, result.out + result.err
    document = tmp_path / "rehearsal.json"
    document.write_text(result.out)

    docs = migrator("docs", plan, "--rehearsal", document, dsn=False)

    assert docs.code == 0, docs.out + docs.err
    assert (
        "**Rehearsed:** takes SHARE ROW EXCLUSIVE on public.items, public.owners; adds foreign "
        "key constraint items\\_owner\\_fk on public.items (NOT VALID)"
    ) in docs.out.splitlines(), docs.out
    undone = [line for line in docs.out.splitlines() if line.startswith("**Undo rehearsed:**")]
    assert len(undone) == 4, docs.out  # every step's undo ran on the way back
    assert undone[:2] == [
        "**Undo rehearsed:** takes ACCESS EXCLUSIVE on public.items, public.tags, "
        "public.tags\\_pkey",
        "**Undo rehearsed:** takes ACCESS EXCLUSIVE on public.items, public.owners",
    ], undone
    # a step outside a transaction: its locks were not traced, never "no lock"
    concurrently = [line for line in docs.out.splitlines() if "**Rehearsed:**" in line][3]
    assert concurrently == (
        "**Rehearsed:** its locks were not traced (outside a transaction); builds index "
        "public.items\\_name\\_idx on public.items (valid)"
    ), concurrently
    assert undone[3].startswith("**Undo rehearsed:** its locks were not traced"), undone[3]


@pytest.mark.parametrize("stage", ["before_step", "in_transaction", "after_step"])
def test_a_tracer_that_fails_never_fails_the_step_it_watches(
    rehearse: Any, write_plan: Any, monkeypatch: pytest.MonkeyPatch, stage: str
) -> None:
    """The observer raises (in its transaction's savepoint: an SQL error) when it watches
    'index the name', which cannot run twice: the step runs once and passes, and its trace
    says it could not be traced, and why."""
    from sqlalchemy import text

    from migrator.rehearse import trace

    class Failing(trace.Tracer):
        def before_step(self, op: Any) -> None:
            super().before_step(op)
            if stage == "before_step" and op.label == "index the name":
                raise RuntimeError("the tracer's catalog is gone")

        def in_transaction(self, conn: Any, op: Any) -> None:
            if stage == "in_transaction" and op.label == "index the name":
                conn.execute(text("select 1 / 0"))
            super().in_transaction(conn, op)

        def after_step(self, op: Any) -> None:
            if stage == "after_step" and op.label == "index the name":
                raise RuntimeError("the tracer's catalog is gone")
            super().after_step(op)

    monkeypatch.setattr(trace, "Tracer", Failing)

    result = rehearse(write_plan(DANGEROUS), "--output", "json")

    assert result.code == 0, result.out + result.err
    document = json.loads(result.out)
    (trip,) = document["round_trips"]
    assert (trip["outcome"], trip["legs"]) == ("clean", ["forward", "back", "forward again"])
    forward = trace_of(document, "forward")
    assert list(forward) == ["everyone reads items", "kind becomes a bigint", "index the name"]
    index = forward["index the name"]
    said = "division by zero" if stage == "in_transaction" else "the tracer's catalog is gone"
    assert said in index["not_traced"], index
    assert index["locks_traced"] is False and index["locks"] == []
    assert index["lint"] == {"confirmed": [], "refuted": []}  # no verdict from no trace
    assert forward["kind becomes a bigint"]["rewritten"] == ["public.items"]
    assert forward["kind becomes a bigint"]["not_traced"] is None
    text_out = rehearse(write_plan(DANGEROUS)).out
    assert f"forward 'index the name': could not be traced ({said}" in text_out, text_out


def test_lock_modes_no_other_covers_are_all_kept(rehearse: Any, write_plan: Any) -> None:
    """SHARE (CREATE INDEX) and SHARE UPDATE EXCLUSIVE (ANALYZE) on one table: neither
    blocks all that the other blocks, so the trace keeps both (no total order of modes)."""
    plan = write_plan(
        DANGEROUS.replace(
            "sql: create index items_name_idx on items (name)",
            "sql: create index items_name_idx on items (name); analyze items",
        )
    )
    result = rehearse(plan, "--output", "json")

    assert result.code == 0, result.out + result.err
    index = trace_of(json.loads(result.out), "forward")["index the name"]
    assert index["locks"] == [
        {"relation": "public.items", "mode": "ShareLock"},
        {"relation": "public.items", "mode": "ShareUpdateExclusiveLock"},
    ]


def test_a_lock_prediction_is_confirmed_only_by_a_mode_that_covers_it() -> None:
    from migrator.rehearse.trace import StepTrace, covers, verdict

    assert covers("ExclusiveLock", "ShareLock") and covers("AccessExclusiveLock", "ShareLock")
    assert not covers("ShareLock", "ShareUpdateExclusiveLock")
    assert not covers("ShareUpdateExclusiveLock", "ShareLock")
    assert not covers("RowExclusiveLock", "ShareLock") and covers("ShareLock", "AccessShareLock")
    share = StepTrace("s", False, True, [{"relation": "public.t", "mode": "ShareLock"}])
    assert verdict(LintFinding("r", "m", trace=("t", "ShareUpdateExclusiveLock")), share) is False
    assert verdict(LintFinding("r", "m", trace=("t", "RowExclusiveLock")), share) is False
    assert verdict(LintFinding("r", "m", trace=("t", "ShareLock")), share) is True


REBUILT = """\
plan: rebuilt
phases: [before, after]
transitions:
  - name: widen
    from: before
    to: after
    steps:
      - name: kind becomes a bigint
        sql: alter table items alter column kind type bigint
        rollback: {sql: alter table items alter column kind type int}
      - name: v becomes a bigint
        sql: alter table parts alter column v type bigint
        rollback: {sql: alter table parts alter column v type int}
"""


def test_what_a_type_change_rebuilds_is_no_new_index_or_constraint(
    rehearse: Any, write_plan: Any, sql: Any
) -> None:
    """ALTER COLUMN TYPE makes the column's indexes and constraints again (new oids, the
    same names): a rewrite, not an index built or a constraint added; on a partitioned
    table it rewrites the partitions, which confirms the lint's rewrite of the table."""
    sql(
        """
        create index items_kind_idx on items (kind);
        alter table items add constraint items_kind_positive check (kind > 0);
        alter table items add constraint items_kind_key unique (kind);
        create table parts (id int, v int) partition by range (id);
        create table parts_1 partition of parts for values from (0) to (100);
        create index parts_v_idx on parts (v);
        """
    )
    result = rehearse(write_plan(REBUILT), "--output", "json")

    assert result.code == 0, result.out + result.err
    forward = trace_of(json.loads(result.out), "forward")
    kind = forward["kind becomes a bigint"]
    assert kind["rewritten"] == ["public.items"]
    assert (kind["constraints"], kind["indexes"]) == ([], [])
    assert kind["lint"] == {"confirmed": ["changing-column-type"], "refuted": []}
    parts = forward["v becomes a bigint"]
    assert parts["rewritten"] == ["public.parts_1"]
    assert (parts["constraints"], parts["indexes"]) == ([], [])
    assert parts["lint"] == {"confirmed": ["changing-column-type"], "refuted": []}
