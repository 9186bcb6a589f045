"""Skipping a step on resume, lifecycle hooks reaching plugins, the versioned state schema."""

from __future__ import annotations

import io
import signal
from typing import Any

import pytest
from sqlalchemy import text

import migrator as migrator_pkg
from migrator import api
from migrator.db.target import Target, connect_engine
from migrator.plugin.manager import get_plugin_manager
from migrator.state import SCHEMA_VERSION, ensure_schema
from tests.plans import FOUR_STEPS, TRACE_TABLES, phased
from tests.processes import spawn, step_started, wait_for


def test_resume_skip_records_the_reason_and_does_not_run_the_step(
    write_plan: Any, database: str, migrator: Any, sql: Any
) -> None:
    sql(TRACE_TABLES)
    plan = write_plan(FOUR_STEPS.replace("expect: 4", "expect: 3"))
    proc = spawn("apply", plan, "--to", "b", "--dsn", database, "--var", "nap=60")
    wait_for(step_started(sql, "three"))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    missing_reason = migrator("resume", plan, "--skip", "three")
    assert missing_reason.code == 2
    result = migrator(
        "resume", plan, "--skip", "three", "--reason", "done by hand", "--operator", "dora"
    )
    assert result.code == 0, result.out + result.err
    assert sorted(sql("select step from ran")) == [("four",), ("one",), ("two",)]
    skipped = sql("select detail from migrator.events where status = 'skipped'")
    assert skipped[0][0]["reason"] == "done by hand"
    assert skipped[0][0]["operator"] == "dora"


class Recorder:
    """A third-party reporter: it only implements lifecycle hooks."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    @migrator_pkg.hookimpl
    def migrator_run_start(self, plan: str, run_id: int, transition: str) -> None:
        self.calls.append(("run_start", transition))

    @migrator_pkg.hookimpl
    def migrator_before_step(self, step: str, action: str) -> None:
        self.calls.append(("before", step))

    @migrator_pkg.hookimpl
    def migrator_after_step(self, step: str, seconds: float) -> None:
        assert seconds >= 0
        self.calls.append(("after", step))

    @migrator_pkg.hookimpl
    def migrator_on_step_error(self, step: str, error: BaseException) -> None:
        self.calls.append(("error", step))

    @migrator_pkg.hookimpl
    def migrator_after_check(self, check: str, outcome: Any) -> None:
        self.calls.append(("check", f"{check}={outcome.passed}"))

    @migrator_pkg.hookimpl
    def migrator_run_end(self, status: str) -> None:
        self.calls.append(("run_end", status))


def test_lifecycle_hooks_reach_a_plugin(write_plan: Any, database: str, sql: Any) -> None:
    plan = write_plan(
        phased(
            "hooked",
            ["{name: fine, sql: select 1}", "{name: broken, sql: select 1/0}"],
            post_checks=["{name: never, query: select 1, expect: 1}"],
        )
    )
    pm = get_plugin_manager()
    recorder = Recorder()
    pm.register_plugin(recorder, "recorder")
    ctx = api.Context(out=io.StringIO(), err=io.StringIO(), dsn=database, plugin_manager=pm)
    assert api.apply(ctx, plan, "b") == 1
    assert recorder.calls == [
        ("run_start", "go"),
        ("before", "fine"),
        ("after", "fine"),
        ("before", "broken"),
        ("error", "broken"),
        ("run_end", "undone"),
    ]


def test_a_hook_that_raises_is_recorded_and_ignored(
    write_plan: Any, database: str, sql: Any
) -> None:
    class Broken:
        @migrator_pkg.hookimpl
        def migrator_before_step(self, step: str) -> None:
            raise RuntimeError("reporter down")

    plan = write_plan(
        "plan: h\nphases: [a, b]\ntransitions:\n  - {name: go, from: a, to: b, "
        "steps: [{sql: select 1}]}\n"
    )
    pm = get_plugin_manager()
    pm.register_plugin(Broken(), "broken-reporter")
    ctx = api.Context(out=io.StringIO(), err=io.StringIO(), dsn=database, plugin_manager=pm)
    assert api.apply(ctx, plan, "b") == 0
    hooks = sql("select status, detail from migrator.events where kind = 'hook'")
    assert hooks[0][0] == "failed"
    assert "reporter down" in hooks[0][1]["detail"]


def test_schema_is_created_once_and_versioned(database: str, sql: Any) -> None:
    engine = connect_engine(Target(database, "--dsn"))
    with engine.connect() as conn:
        assert ensure_schema(conn) == SCHEMA_VERSION
        assert ensure_schema(conn) == SCHEMA_VERSION  # idempotent
    versions = sql("select version from migrator.schema_version order by version")
    assert versions == [(v,) for v in range(1, SCHEMA_VERSION + 1)]
    sql("insert into migrator.schema_version (version) values (99)")
    with engine.connect() as conn, pytest.raises(migrator_pkg.errors.MigratorError) as caught:
        ensure_schema(conn)
    assert "newer than this migrator understands" in str(caught.value)
    engine.dispose()


def test_schema_creation_is_safe_when_processes_race(database: str, sql: Any) -> None:
    import threading

    engine = connect_engine(Target(database, "--dsn"), pool_size=8)
    errors: list[BaseException] = []

    def create() -> None:
        try:
            with engine.connect() as conn:
                ensure_schema(conn)
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with engine.connect() as conn:
        versions = conn.execute(text("select count(*) from migrator.schema_version")).scalar()
        assert versions == SCHEMA_VERSION  # each version applied once
    engine.dispose()


def test_a_schema_of_version_1_is_upgraded_and_forgets_a_batch_size_of_no_run(
    database: str, sql: Any
) -> None:
    from migrator.state import MIGRATIONS

    sql(MIGRATIONS[0] + "; insert into migrator.schema_version (version) values (1)")
    sql("insert into migrator.controls (plan, batch_size) values ('fill', 700)")
    engine = connect_engine(Target(database, "--dsn"))
    with engine.connect() as conn:
        assert ensure_schema(conn) == SCHEMA_VERSION
    engine.dispose()
    assert sql("select max(version) from migrator.schema_version") == [(SCHEMA_VERSION,)]
    # version 1 kept a resumed batch size for every later run of the plan: no more
    assert sql("select batch_size, batch_size_run from migrator.controls") == [(None, None)]
