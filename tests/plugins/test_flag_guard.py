"""The guarded undo of a flag: in a file store too, and memos from before the guard."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

import migrator
from migrator_flag import flag as flag_action
from migrator_flag.stores import store_for

PLAN = """\
plan: launch
kind: hotfix
steps:
  - flag: {name: checkout_v2, value: true, store: "file:flags.json"}
"""


def test_a_flag_file_changed_since_is_left_as_it_is(
    migrator: Any, write_plan: Any, tmp_path: Path
) -> None:
    flags = tmp_path / "flags.json"
    flags.write_text(json.dumps({"checkout_v2": False}))
    plan = write_plan(PLAN)
    assert migrator("apply", plan).code == 0
    flags.write_text(json.dumps({"checkout_v2": 1}))  # someone else; 1 is not true
    undo = migrator("rollback", plan)
    assert undo.code == 3, undo.out + undo.err
    assert (
        "flag checkout_v2 is not as its step left it: the step set it to true and it now holds 1"
        in undo.out
    )
    assert json.loads(flags.read_text()) == {"checkout_v2": 1}
    flags.write_text(json.dumps({"checkout_v2": True}))  # settled by hand
    assert migrator("rollback", plan).code == 0
    assert json.loads(flags.read_text()) == {"checkout_v2": False}


class Hooks:
    """The hook relay a step is given, reduced to the flag stores (the plugin's own)."""

    def migrator_flag_store(self, location: str, plan_file: str | None) -> Any:
        return store_for(location, plan_file)


@pytest.mark.parametrize(
    ("memo", "after"),
    [
        ({"existed": True, "previous": "old"}, "old"),  # before the guard: no `set`
        ({"existed": False}, None),
        (None, None),
    ],
)
def test_a_memo_from_before_the_guard_is_undone_as_before(
    database: str, memo: Any, after: Any
) -> None:
    engine = create_engine("postgresql+psycopg://", creator=lambda: _connect(database))
    try:
        with engine.connect() as conn:
            from migrator.state import ensure_schema

            ensure_schema(conn)
            with conn.begin():
                migrator.plugin.write_flag(conn, "f", "changed by someone", "someone")
            ctx = migrator.StepContext(
                connection=conn,
                variables={},
                plan="p",
                operator="t",
                hooks=Hooks(),  # type: ignore[arg-type]
            )
            step: Any = type("Step", (), {"flag": flag_action.FlagSetting(name="f", value="x")})
            with conn.begin():
                flag_action.undo(ctx, step, memo)
            with conn.begin():
                now = migrator.plugin.read_flag(conn, "f", None)
    finally:
        engine.dispose()
    assert now == after


def _connect(dsn: str) -> Any:
    import psycopg

    return psycopg.connect(dsn)


SECRET_PLAN = """\
plan: keys
kind: hotfix
steps:
  - flag: {name: api_key, value: "${env:FLAG_GUARD_TOKEN}"}
"""


def test_values_kept_for_an_undo_and_edited_since_are_never_put_back(
    migrator: Any, write_plan: Any, sql: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The values an undo of a secret flag puts back live outside the hash-chained trail
    (migrator.kept_flag_values); the memo in the trail holds a salted seal of them, so an
    edit of the row is refused (exit 3) instead of restoring an attacker's value."""
    monkeypatch.setenv("FLAG_GUARD_TOKEN", "tok-3c9f1e7a2b5d8e4f")
    plan = write_plan(SECRET_PLAN)
    assert migrator("apply", plan).code == 0
    ((memo,),) = sql(
        "select detail->'memo' from migrator.events where kind = 'step' and status = 'done'"
    )
    assert set(memo) == {"existed", "secret", "kept", "salt", "seal"}
    assert "tok-3c9f1e7a2b5d8e4f" not in json.dumps(memo)
    sql(
        "update migrator.kept_flag_values set existed = true, previous = '\"ATTACKER\"', "
        "previous_secret = false where name = 'api_key'"
    )
    undo = migrator("rollback", plan)
    assert undo.code == 3, undo.out + undo.err
    assert "was edited since its step; the undo changed nothing" in undo.out
    assert sql("select value from migrator.flags where name = 'api_key'") == [
        ("tok-3c9f1e7a2b5d8e4f",)
    ]
