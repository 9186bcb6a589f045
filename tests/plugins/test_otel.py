"""The `otel` plugin in process: the span tree of a run under the TRACEPARENT of the
environment, read from the OpenTelemetry SDK's in-memory exporter."""

from __future__ import annotations

import io
import sys
from typing import Any

import pytest

from migrator import api
from migrator.plugin.manager import get_plugin_manager
from tests.otelspans import PARENT_ID, TRACE_ID, TRACEPARENT, Spans, attrs, memory_exporter, status
from tests.plans import backfill_plan, phased, traced


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Traces asked for (an OTLP endpoint), under a CI job's TRACEPARENT; the spans made."""
    exporter = memory_exporter()
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_SDK_DISABLED", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("TRACEPARENT", TRACEPARENT)
    monkeypatch.setenv("TRACESTATE", "ci=job42")
    return lambda: Spans(exporter.get_finished_spans())


def _context(database: str) -> api.Context:
    return api.Context(
        out=io.StringIO(),
        err=io.StringIO(),
        dsn=database,
        plugin_manager=get_plugin_manager(),
        operator="dora",
    )


def test_a_failing_run_undone_under_the_ci_jobs_trace(
    write_plan: Any, database: str, sql: Any, spans: Any
) -> None:
    """THE done-when test: command -> run -> steps, the failed step ERROR, its undos."""
    sql("create table ran (step text); create table undone (step text)")
    plan = write_plan(
        phased("widgets", [traced("one"), traced("two"), "{name: three, sql: select 1/0}"])
    )
    assert api.apply(_context(database), plan, "b") == 1
    tree = spans()
    command = tree.named("migrator apply widgets")
    # under the CI job's span: its trace id, its span as the parent, its tracestate
    assert command.context is not None and command.parent is not None
    assert format(command.context.trace_id, "032x") == TRACE_ID
    assert format(command.parent.span_id, "016x") == PARENT_ID
    assert command.parent.is_remote
    assert command.context.trace_state.get("ci") == "job42"
    assert {s.context.trace_id for s in tree.all if s.context} == {command.context.trace_id}
    assert attrs(command) == {
        "migrator.command": "apply",
        "migrator.plan": "widgets",
        "migrator.plan_file": str(plan),
        "migrator.operator": "dora",
        "migrator.database": attrs(command)["migrator.database"],
        "host.name": attrs(command)["host.name"],
        "migrator.exit_code": 1,
        "migrator.error": status(command)[1],
    }
    assert status(command)[0] == "ERROR"
    assert "sweep-pw" not in attrs(command)["migrator.database"]
    [run] = tree.children(command)
    assert run.name == "run go (a -> b)"
    assert {k: attrs(run)[k] for k in ("migrator.transition", "migrator.from", "migrator.to")} == {
        "migrator.transition": "go",
        "migrator.from": "a",
        "migrator.to": "b",
    }
    assert attrs(run)["migrator.outcome"] == "undone"
    assert status(run)[0] == "ERROR" and "division by zero" in (status(run)[1] or "")
    assert tree.names(run) == [
        "step one",
        "step two",
        "step three",
        "undo two",
        "undo one",
    ]
    outcomes = {s.name: (attrs(s)["migrator.outcome"], status(s)[0]) for s in tree.children(run)}
    assert outcomes == {
        "step one": ("done", "UNSET"),
        "step two": ("done", "UNSET"),
        "step three": ("failed", "ERROR"),
        "undo two": ("done", "UNSET"),
        "undo one": ("done", "UNSET"),
    }
    three = tree.named("step three")
    assert "division by zero" in (status(three)[1] or "")
    assert attrs(three)["migrator.action"] == "sql" and attrs(three)["migrator.step_index"] == 2
    undo_two, undo_one = tree.children(run)[3:]
    assert three.end_time is not None and undo_two.start_time is not None
    assert three.end_time <= undo_two.start_time  # the undo comes after the failure
    for child in tree.children(run):  # each inside its run, the run inside the command
        assert run.start_time <= child.start_time <= child.end_time <= run.end_time  # type: ignore[operator]
    assert command.start_time <= run.start_time and run.end_time <= command.end_time  # type: ignore[operator]
    assert undo_one.end_time is not None and undo_two.end_time <= undo_one.start_time  # type: ignore[operator]


def test_a_failed_post_check_is_an_error_span_with_its_values(
    write_plan: Any, database: str, sql: Any, spans: Any
) -> None:
    sql("create table ran (step text); create table undone (step text)")
    plan = write_plan(
        phased(
            "checked",
            [traced("one")],
            pre_checks=["{name: room, query: select 1, expect: 1}"],
            post_checks=["{name: token, query: select 'nope', expect: ok}"],
        )
    )
    assert api.apply(_context(database), plan, "b") == 1
    tree = spans()
    run = tree.named("run go (a -> b)")
    assert tree.names(run) == ["pre-check room", "step one", "post-check token", "undo one"]
    pre, post = tree.named("pre-check room"), tree.named("post-check token")
    assert (attrs(pre)["migrator.check_phase"], attrs(pre)["migrator.outcome"]) == ("pre", "passed")
    assert attrs(pre)["migrator.check_key"] == "query"
    assert (attrs(post)["migrator.check"], attrs(post)["migrator.outcome"]) == ("token", "failed")
    assert status(post)[0] == "ERROR"
    assert "ok" in attrs(post)["migrator.check.expected"]
    assert attrs(post)["migrator.check.actual"] == '"nope"'
    assert "nope" in (status(post)[1] or "")
    assert pre.end_time <= tree.named("step one").start_time <= post.start_time  # type: ignore[operator]


def test_a_successful_run(write_plan: Any, database: str, sql: Any, spans: Any) -> None:
    sql("create table ran (step text); create table undone (step text)")
    plan = write_plan(
        phased(
            "fine", [traced("one")], post_checks=["{query: select count(*) from ran, expect: 1}"]
        )
    )
    assert api.apply(_context(database), plan, "b") == 0
    tree = spans()
    command = tree.named("migrator apply fine")
    assert status(command) == ("UNSET", None) and attrs(command)["migrator.exit_code"] == 0
    [run] = tree.children(command)
    assert status(run)[0] == "UNSET" and attrs(run)["migrator.outcome"] == "succeeded"
    assert attrs(run)["migrator.run_id"] == sql("select max(id) from migrator.runs")[0][0]
    assert tree.names(run) == ["step one", "post-check query #1"]
    assert [e.name for e in run.events] == [
        "state prechecking",
        "state applying",
        "state verifying",
        "state succeeded",
    ]


def test_an_undo_that_fails_leaves_its_span_in_error(
    write_plan: Any, database: str, spans: Any
) -> None:
    plan = write_plan(
        phased(
            "broken",
            [
                "{name: fine, sql: select 1, rollback: {sql: select 1/0}}",
                "{name: bad, sql: select 1/0}",
            ],
        )
    )
    assert api.apply(_context(database), plan, "b") == 3
    tree = spans()
    run = tree.named("run go (a -> b)")
    assert attrs(run)["migrator.outcome"] == "undo_failed"
    assert "migrator resume" in attrs(run)["migrator.settle"]
    assert tree.names(run) == ["step fine", "step bad", "undo fine"]
    undo = tree.named("undo fine")
    assert attrs(undo)["migrator.outcome"] == "failed" and status(undo)[0] == "ERROR"
    assert "division by zero" in (status(undo)[1] or "")
    assert attrs(tree.named("migrator apply broken"))["migrator.exit_code"] == 3


@pytest.mark.parametrize(
    ("settings", "wanted"),
    [
        ({}, False),
        ({"OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_METRICS_EXPORTER": "otlp", "TRACEPARENT": TRACEPARENT}, False),
    ],
)
def test_traces_are_made_only_when_the_environment_asks(
    settings: dict[str, str], wanted: bool
) -> None:
    import migrator_otel

    assert migrator_otel.wanted(settings) is wanted


def test_without_settings_no_span_is_made(
    write_plan: Any, database: str, spans: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT")
    plan = write_plan(phased("quiet", ["{sql: select 1}"]))
    assert api.apply(_context(database), plan, "b") == 0
    assert spans().all == []


def test_importing_the_plugin_imports_no_opentelemetry() -> None:
    import subprocess

    probe = (
        "import sys, migrator_otel, migrator.plugin.manager as m; "
        "m.get_plugin_manager().build_registry(); "
        "print(sorted(n for n in sys.modules if n.startswith('opentelemetry')))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_a_backfills_step_span_carries_its_rows(
    write_plan: Any, database: str, sql: Any, spans: Any
) -> None:
    sql("create table src (id int primary key, v int); create table dst (id int, v int)")
    sql("insert into src select g, g from generate_series(1, 20000) g")
    assert api.apply(_context(database), write_plan(backfill_plan(batch_size=5000)), "full") == 0
    copy = attrs(spans().named("step copy"))
    assert (copy["migrator.rows_done"], copy["migrator.rows_written"]) == (20000, 20000)
    assert copy["migrator.batches"] >= 4 and copy["migrator.outcome"] == "done"


def test_open_spans_are_ended_interrupted_when_the_command_ends(spans: Any) -> None:
    """A process that lost its database mid-step: no end of its run is told, the command
    ends (exit 5) and every span still open is ended, ERROR, interrupted."""
    from migrator.plugin import CommandInfo, RunEvent, RunInfo
    from migrator_otel.tracing import Trace

    command = CommandInfo("apply", "lost", "lost.yaml", "dora", "db:5432/x")
    run = RunInfo(command, 7, "go", "a", "b")
    traced = Trace(command)
    traced.event(run, RunEvent("state", "applying", None, {}))
    traced.event(run, RunEvent("step", "started", "one", {"action": "sql", "index": 0}))
    traced.end(5, "the database is unreachable")
    tree = spans()
    for name in ("step one", "run go (a -> b)", "migrator apply lost"):
        assert status(tree.named(name)) == (
            "ERROR",
            "the database is unreachable" if name != "step one" else "interrupted",
        ), name
    assert attrs(tree.named("step one"))["migrator.outcome"] == "interrupted"
    assert attrs(tree.named("run go (a -> b)"))["migrator.outcome"] == "interrupted"


def test_a_rollback_is_traced_with_its_undos(
    write_plan: Any, database: str, sql: Any, spans: Any
) -> None:
    sql("create table ran (step text); create table undone (step text)")
    plan = write_plan(phased("back", [traced("one"), traced("two")]))
    assert api.apply(_context(database), plan, "b") == 0
    memory_exporter()  # the apply's spans forgotten
    assert api.rollback(_context(database), plan) == 0
    tree = spans()
    command = tree.named("migrator rollback back")
    assert attrs(command)["migrator.command"] == "rollback"
    [run] = tree.children(command)
    # a rollback's run has the undos for steps, as its audit trail records them
    assert tree.names(run) == ["step undo two", "step undo one"]
    assert {attrs(s)["migrator.outcome"] for s in tree.children(run)} == {"done"}
    assert attrs(run)["migrator.outcome"] == "succeeded"


def test_no_secret_reaches_a_span(write_plan: Any, database: str, spans: Any) -> None:
    """A check whose URL holds a `${env:...}` secret fails: its span tells the URL masked."""
    import os
    import socket

    from tests.secrets_sweep import ENV_NAME

    secret = os.environ.get(ENV_NAME)
    if not secret:
        pytest.skip("no secrets sweep in this session")
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/hook?token=${{env:{ENV_NAME}}}"
    plan = write_plan(
        phased(
            "hidden",
            ["{sql: select 1}"],
            pre_checks=[f'{{name: api, http: {{url: "{url}"}}, expect: {{status: 200}}}}'],
        )
    )
    assert api.apply(_context(database), plan, "b") == 1
    tree = spans()
    check = tree.named("pre-check api")
    assert status(check)[0] == "ERROR"
    told = repr([(s.name, s.attributes, s.status.description, s.events) for s in tree.all])
    assert secret not in told and "token=***" in told


def test_a_command_that_cannot_reach_the_database_is_one_error_span(
    write_plan: Any, spans: Any
) -> None:
    """Exit 5 before any run: the command's span alone, ERROR, with its exit code."""
    import socket

    from migrator.errors import MigratorError

    plan = write_plan(phased("far", ["{sql: select 1}"]))
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        nowhere = f"postgresql://u:nowhere-pw@127.0.0.1:{closed.getsockname()[1]}/db"
    with pytest.raises(MigratorError) as failed:
        api.apply(_context(nowhere), plan, "b")
    assert int(failed.value.exit_code) == 5
    [command] = spans().all
    assert command.name == "migrator apply far"
    assert attrs(command)["migrator.exit_code"] == 5
    assert status(command)[0] == "ERROR"
    assert "nowhere-pw" not in repr((attrs(command), status(command)))


def test_a_resume_that_finishes_an_undo_is_a_run_that_did_its_job(
    write_plan: Any, database: str, sql: Any, spans: Any
) -> None:
    """The undo failed (exit 3); the resume finishes it (exit 0): its run span is OK, its
    outcome `undone`; the first run's span stays ERROR."""
    sql("create table ok (x int)")
    plan = write_plan(
        phased(
            "settle",
            [
                "{name: fine, sql: select 1, rollback: {sql: select 1/(select count(*) from ok)}}",
                "{name: broken, sql: select 1/0}",
            ],
        )
    )
    assert api.apply(_context(database), plan, "b") == 3
    first = spans().named("run go (a -> b)")
    assert attrs(first)["migrator.outcome"] == "undo_failed" and status(first)[0] == "ERROR"
    sql("insert into ok values (1)")
    assert api.resume(_context(database), plan) == 0
    tree = spans()
    command = tree.named("migrator resume settle")
    [run] = tree.children(command)
    assert attrs(run)["migrator.outcome"] == "undone"
    assert status(run)[0] == "UNSET", status(run)
    assert status(command)[0] == "UNSET"


def test_a_rollback_that_undoes_its_transition_did_its_job(
    write_plan: Any, database: str, spans: Any
) -> None:
    plan = write_plan(phased("back", ["{sql: create table made (x int)}"]))
    assert api.apply(_context(database), plan, "b") == 0
    assert api.rollback(_context(database), plan) == 0
    tree = spans()
    [run] = tree.children(tree.named("migrator rollback back"))
    assert status(run)[0] == "UNSET", (attrs(run), status(run))
