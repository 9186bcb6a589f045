"""`migrator rehearse` as a CI gate: a step irreversible by design is said, not failed; the
operator's own sample rows (`--sample-sql`) let checks that need rows run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.rehearsing import scratch_databases

TABLES = """
create table accounts (id serial primary key, legacy_name text, name text);
"""

EXPAND_CONTRACT = """\
plan: names
phases: [v1, v2, v3]
transitions:
  - name: expand
    from: v1
    to: v2
    steps:
      - name: a name index
        sql: create index accounts_name_idx on accounts (name)
        rollback: {sql: drop index accounts_name_idx}
  - name: contract
    from: v2
    to: v3
    steps:
      - name: a note on the table
        sql: comment on table accounts is 'contracted'
        rollback: {sql: comment on table accounts is null}
      - name: drop the legacy column
        sql: alter table accounts drop column legacy_name
        rollback: irreversible
"""


@pytest.fixture
def accounts(sql: Any) -> None:
    sql(TABLES)


def test_a_step_irreversible_by_design_is_reported_as_such_and_the_rehearsal_passes(
    rehearse: Any, write_plan: Any, accounts: None, sql: Any
) -> None:
    plan = write_plan(EXPAND_CONTRACT)

    result = rehearse(plan, "--output", "json")

    assert result.code == 0, result.out + result.err
    document = json.loads(result.out)
    assert document["result"] == "clean"
    assert document["irreversible"] == ["contract"]
    trips = {t["transition"]: t for t in document["round_trips"]}
    assert trips["expand"]["outcome"] == "clean"
    assert trips["expand"]["legs"] == ["forward", "back", "forward again"]
    assert trips["contract"]["outcome"] == "irreversible"
    assert trips["contract"]["irreversible"] == ["drop the legacy column"]
    assert trips["contract"]["legs"] == ["forward"]  # not taken back, by design
    assert trips["contract"]["failed"] is None
    # the target is only read
    assert sql("select count(*) from information_schema.columns where column_name = 'legacy_name'")
    assert sql("select count(*) from pg_indexes where indexname = 'accounts_name_idx'") == [(0,)]

    text = rehearse(plan)
    assert text.code == 0, text.out + text.err
    assert (
        "contract (v2 -> v3): forward: irreversible by design, not taken back "
        "('drop the legacy column' marked `rollback: irreversible`)"
    ) in text.out
    assert (
        "clean, every reversible transition rehearsed came back as it was "
        "(2 round trips; not taken back, irreversible by design: contract)"
    ) in text.out


def test_a_reversible_part_that_does_not_round_trip_still_fails_beside_an_irreversible_one(
    rehearse: Any, write_plan: Any, accounts: None
) -> None:
    leaky = EXPAND_CONTRACT.replace(
        "rollback: {sql: drop index accounts_name_idx}", "rollback: {sql: select 1}"
    ).replace("create index accounts", "create index if not exists accounts")
    result = rehearse(write_plan(leaky), "--output", "json")

    assert result.code == 1, result.out + result.err
    document = json.loads(result.out)
    assert document["result"] == "differences"
    trips = {t["transition"]: t for t in document["round_trips"]}
    assert trips["expand"]["outcome"] == "differences"
    assert trips["contract"]["outcome"] == "irreversible"


def test_a_hotfix_with_an_irreversible_step_is_said_and_not_taken_back(
    rehearse: Any, write_plan: Any, accounts: None
) -> None:
    plan = write_plan(
        """\
        plan: drop_legacy
        kind: hotfix
        steps:
          - name: drop the legacy column
            sql: alter table accounts drop column legacy_name
            rollback: irreversible
        """
    )
    result = rehearse(plan, "--output", "json")

    assert result.code == 0, result.out + result.err
    document = json.loads(result.out)
    assert [t["outcome"] for t in document["round_trips"]] == ["irreversible"]
    assert document["round_trips"][0]["irreversible"] == ["drop the legacy column"]


def test_a_transition_past_an_irreversible_one_says_which_step_keeps_the_walk_there(
    rehearse: Any, write_plan: Any, accounts: None
) -> None:
    """The walk takes the plan's transitions in their order: once `contract` went forward
    and could not come back (its step is irreversible), `expand` from the same phase is
    not rehearsed, and the reason names the step that keeps the walk past it."""
    plan = write_plan(
        """\
        plan: names
        phases: [v1, v2, v3]
        transitions:
          - name: contract
            from: v1
            to: v2
            steps:
              - name: drop the legacy column
                sql: alter table accounts drop column legacy_name
                rollback: irreversible
          - name: later
            from: v1
            to: v3
            steps:
              - name: a name index
                sql: create index accounts_name_idx on accounts (name)
                rollback: {sql: drop index accounts_name_idx}
        """
    )

    result = rehearse(plan, "--output", "json")

    assert result.code == 0, result.out + result.err
    document = json.loads(result.out)
    assert [t["transition"] for t in document["round_trips"]] == ["contract"]
    assert document["not_rehearsed"] == [
        {
            "transition": "later",
            "reason": "the rehearsal could not come back from phase 'v2' to 'v1': it came to "
            "'v2' by contract, not taken back ('drop the legacy column' marked "
            "`rollback: irreversible`)",
        }
    ]


SAMPLED = """\
plan: sampled
phases: [a, b]
transitions:
  - name: go
    from: a
    to: b
    pre_checks:
      - {name: some accounts, query: select count(*) from accounts, expect: 3}
    steps:
      - name: names from the legacy ones
        sql: update accounts set name = legacy_name where name is null
        rollback: {sql: update accounts set name = null}
    post_checks:
      - {name: every name set, query: select count(*) from accounts where name is null, expect: 0}
"""


def test_sample_rows_of_ones_own_let_row_dependent_checks_run(
    rehearse: Any, write_plan: Any, accounts: None, sql: Any, tmp_path: Path
) -> None:
    sql("insert into accounts (legacy_name) values ('production row')")
    rows = tmp_path / "rows.sql"
    rows.write_text(
        "insert into accounts (legacy_name) values ('a'), ('b');\n"
        "copy accounts (legacy_name) from stdin;\nc\n\\.\n"
    )
    plan = write_plan(SAMPLED)

    result = rehearse(plan, "--sample-sql", str(rows), "--output", "json")

    assert result.code == 0, result.out + result.err
    document = json.loads(result.out)
    assert document["sample_sql"] == str(rows)
    assert document["rows_copied"] == {}  # no production row was copied
    assert document["round_trips"][0]["checks_not_passed"] == []

    without = rehearse(plan, "--output", "json")  # the checks see an empty table: said
    checks = json.loads(without.out)["round_trips"][0]["checks_not_passed"]
    assert [c["check"] for c in checks][:1] == ["pre-check 'some accounts'"]

    text = rehearse(plan, "--sample-sql", str(rows))
    assert f"then loaded the sample rows of {rows}" in text.out
    assert sql("select count(*) from accounts") == [(1,)]  # the target is only read


@pytest.mark.parametrize("kind", ["missing", "a folder", "not UTF-8"])
def test_a_sample_file_that_cannot_be_read_is_bad_usage_before_anything_is_made(
    rehearse: Any, write_plan: Any, accounts: None, admin_dsn: str, tmp_path: Path, kind: str
) -> None:
    path = tmp_path / "rows.sql"
    if kind == "a folder":
        path.mkdir()
    elif kind == "not UTF-8":
        path.write_bytes(b"insert into accounts (name) values ('\xff');\n")
    scratches = scratch_databases(admin_dsn)

    result = rehearse(write_plan(SAMPLED), "--sample-sql", str(path))

    assert result.code == 2, result.out + result.err
    assert f"--sample-sql '{path}': cannot read it" in result.err
    assert "rehearsing plan" not in result.out
    assert scratch_databases(admin_dsn) == scratches


def test_sample_rows_that_fail_stop_the_rehearsal_and_leave_no_scratch_database(
    rehearse: Any, write_plan: Any, accounts: None, admin_dsn: str, tmp_path: Path
) -> None:
    rows = tmp_path / "rows.sql"
    rows.write_text("insert into no_such_table values (1);\n")
    scratches = scratch_databases(admin_dsn)

    result = rehearse(write_plan(SAMPLED), "--sample-sql", str(rows))

    assert result.code == 2, result.out + result.err
    assert f"the sample rows of {rows} could not be loaded in the scratch database" in result.err
    assert 'relation "no_such_table" does not exist' in result.err
    assert scratch_databases(admin_dsn) == scratches


def test_the_runbook_takes_the_rehearsal_of_the_plan_as_it_is_and_refuses_a_stale_one(
    rehearse: Any, migrator: Any, write_plan: Any, accounts: None, tmp_path: Path
) -> None:
    plan = write_plan(EXPAND_CONTRACT)
    result = rehearse(plan, "--output", "json")
    assert result.code == 0, result.out + result.err
    saved = tmp_path / "rehearsal.json"
    saved.write_text(result.out)

    runbook = migrator("docs", plan, "--rehearsal", saved, dsn=False)
    assert runbook.code == 0, runbook.err
    assert runbook.err == ""  # the document names the plan's version: no warning
    assert f"- **Rehearsal:** each step's locks and rewrites as `{saved}` saw them" in runbook.out

    plan.write_text(EXPAND_CONTRACT.replace("accounts (name)", "accounts (name, id)"))
    stale = migrator("docs", plan, "--rehearsal", saved, dsn=False)
    assert stale.code == 2
    assert "rehearsed another version of" in stale.err
