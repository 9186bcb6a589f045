"""The `otel` plugin in a real `migrator apply`: OTLP over HTTP to a receiver on 127.0.0.1
(its protobuf bodies decoded), the parent from TRACEPARENT in the environment, a
collector that is down, a run stopped by SIGINT, and no OpenTelemetry imported unless
the environment asks for traces."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from psycopg.conninfo import conninfo_to_dict

from tests import plans
from tests.faults.gates import run_held_at
from tests.httpserver import Server, running
from tests.otelspans import PARENT_ID, TRACE_ID, TRACEPARENT
from tests.signals import FIRST_SIGNAL_HANDLED, finish, wait_for_line

THREE = plans.phased("three", [plans.traced("one"), plans.traced("two"), plans.traced("three")])
TABLES = (
    "create table ran (step text, at timestamptz default clock_timestamp());"
    " create table undone (step text)"
)


def _environment(**more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_") and k != "TRACEPARENT"}
    return {
        **env,
        "NO_PROXY": "127.0.0.1",
        "no_proxy": "127.0.0.1",
        "PYTHONUNBUFFERED": "1",
        **more,
    }


def _apply(plan: Any, database: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "migrator", "apply", str(plan), "--to", "b", "--dsn", database],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def _spans(server: Server) -> tuple[dict[str, Any], list[Any]]:
    """(the resource's attributes, every span) the receiver was sent."""
    resource: dict[str, Any] = {}
    spans: list[Any] = []
    for request in server.requests_to("/v1/traces"):
        headers = {k.lower(): v for k, v in request.headers.items()}
        assert headers["content-type"] == "application/x-protobuf"
        decoded = ExportTraceServiceRequest()
        decoded.ParseFromString(request.body)
        for rs in decoded.resource_spans:
            resource.update({a.key: a.value.string_value for a in rs.resource.attributes})
            for ss in rs.scope_spans:
                spans.extend(ss.spans)
    return resource, spans


def _attrs(span: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for a in span.attributes:
        v = a.value
        out[a.key] = v.string_value if v.HasField("string_value") else v.int_value
    return out


def test_a_real_run_is_exported_over_otlp_http_under_the_environments_traceparent(
    write_plan: Any, database: str, sql: Any
) -> None:
    sql(TABLES)
    plan = write_plan(
        plans.phased("widgets", [plans.traced("one"), "{name: bad, sql: select 1/0}"])
    )
    with running() as server:
        server.route("/v1/traces", 200, b"")
        env = _environment(
            OTEL_EXPORTER_OTLP_ENDPOINT=server.url,
            OTEL_SERVICE_NAME="ci-migrations",
            OTEL_RESOURCE_ATTRIBUTES="deployment.environment=staging",
            TRACEPARENT=TRACEPARENT,
        )
        done = _apply(plan, database, env)
        assert done.returncode == 1, done.stdout + done.stderr
        resource, spans = _spans(server)
    assert resource["service.name"] == "ci-migrations"
    assert resource["deployment.environment"] == "staging"
    by_name = {s.name: s for s in spans}
    command = by_name["migrator apply widgets"]
    assert command.trace_id.hex() == TRACE_ID and command.parent_span_id.hex() == PARENT_ID
    assert {s.trace_id.hex() for s in spans} == {TRACE_ID}
    run = by_name["run go (a -> b)"]
    assert run.parent_span_id == command.span_id
    children = sorted(
        (s for s in spans if s.parent_span_id == run.span_id), key=lambda s: s.start_time_unix_nano
    )
    assert [s.name for s in children] == ["step one", "step bad", "undo one"]
    bad = by_name["step bad"]
    assert (
        bad.status.code == bad.status.STATUS_CODE_ERROR and "division by zero" in bad.status.message
    )
    assert _attrs(command)["migrator.exit_code"] == 1
    assert _attrs(bad)["migrator.action"] == "sql"
    password = str(conninfo_to_dict(database).get("password") or "")
    for request in server.received:
        assert not password or password.encode() not in request.body


def test_the_default_service_name_is_migrator(write_plan: Any, database: str) -> None:
    plan = write_plan(plans.phased("named", ["{sql: select 1}"]))
    with running() as server:
        server.route("/v1/traces", 200, b"")
        done = _apply(
            plan,
            database,
            _environment(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=server.url + "/v1/traces"),
        )
        assert done.returncode == 0, done.stdout + done.stderr
        resource, spans = _spans(server)
    assert resource["service.name"] == "migrator"
    assert "migrator apply named" in {s.name for s in spans}
    assert not any(s.parent_span_id for s in spans if s.name == "migrator apply named")  # a root


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_collector_that_is_down_never_changes_the_exit_code(
    write_plan: Any, database: str, sql: Any
) -> None:
    sql(TABLES)
    ok = write_plan(plans.phased("fine", [plans.traced("one")]), "ok.yaml")
    failing = write_plan(plans.phased("bad", ["{sql: select 1/0}"]), "bad.yaml")
    env = _environment(OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{_closed_port()}")
    assert _apply(ok, database, env).returncode == 0
    assert _apply(failing, database, env).returncode == 1
    assert sql("select step from ran") == [("one",)]


def test_a_run_stopped_by_sigint_ends_its_open_spans_interrupted(
    write_plan: Any, database: str, sql: Any
) -> None:
    sql(TABLES)
    plan = write_plan(THREE)
    seen: list[str] = []
    with running() as server:
        server.route("/v1/traces", 200, b"")
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": server.url,
            "TRACEPARENT": TRACEPARENT,
            "NO_PROXY": "127.0.0.1",
        }
        argv = ["apply", plan, "--to", "b"]
        with run_held_at(database, argv, env=env, kind="step", status="done", step="two") as (
            proc,
            _gate,
        ):
            os.kill(proc.pid, signal.SIGINT)
            wait_for_line(proc.stderr, FIRST_SIGNAL_HANDLED, seen)
            os.kill(proc.pid, signal.SIGINT)  # the gate stays shut: stopped at once
            code, out, err = finish(proc, seen)
        assert code == 130, out + err
        _, spans = _spans(server)
    by_name = {s.name: s for s in spans}
    two, run, command = (
        by_name["step two"],
        by_name["run go (a -> b)"],
        by_name["migrator apply three"],
    )
    for span in (two, run, command):
        assert span.status.code == span.status.STATUS_CODE_ERROR, span.name
    assert _attrs(two)["migrator.outcome"] == "interrupted"
    assert _attrs(run)["migrator.outcome"] == "interrupted"
    assert _attrs(command)["migrator.exit_code"] == 130
    assert by_name["step one"].status.code != by_name["step one"].status.STATUS_CODE_ERROR


def test_without_settings_a_real_run_imports_no_opentelemetry(
    write_plan: Any, database: str, tmp_path: Any
) -> None:
    """`python -X importtime` lists every module the run imported."""
    plan = write_plan(plans.phased("plain", ["{sql: select 1}"]))
    env = _environment(OTEL_METRICS_EXPORTER="otlp")  # not traces: not asked
    done = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "migrator",
            "apply",
            str(plan),
            "--to",
            "b",
            "--dsn",
            database,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "migrator.engine.runner" in done.stderr  # the run was imported and ran
    assert "opentelemetry" not in done.stderr
    asked = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "migrator",
            "apply",
            str(plan),
            "--to",
            "b",
            "--dsn",
            database,
        ],
        capture_output=True,
        text=True,
        env={**env, "OTEL_TRACES_EXPORTER": "console"},
        timeout=120,
    )
    assert asked.returncode == 0, asked.stdout + asked.stderr
    assert "opentelemetry.sdk.trace" in asked.stderr  # the probe sees it when asked
    assert '"name": "migrator apply plain"' in asked.stderr  # the console exporter, on stderr


def test_a_collector_that_hangs_holds_the_command_at_most_its_flush_bound(
    write_plan: Any, database: str
) -> None:
    """The receiver holds its answer until the test lets go: the command ends (exit 0)
    while it still holds it, its spans given up on after the flush's bound."""
    import threading

    plan = write_plan(plans.phased("held", ["{sql: select 1}"]))
    hold = threading.Event()
    with running() as server:
        route = server.route("/v1/traces", 200, b"", hold=hold)
        try:
            done = _apply(plan, database, _environment(OTEL_EXPORTER_OTLP_ENDPOINT=server.url))
            assert done.returncode == 0, done.stdout + done.stderr
            assert server.requests_to("/v1/traces")  # the export was under way
            assert not route.answered.is_set()  # and still held when the command ended
        finally:
            hold.set()


def test_a_collector_that_is_down_is_told_without_the_endpoints_secrets(
    write_plan: Any, database: str, sql: Any
) -> None:
    """The exporter's own log of a failed export names the endpoint: never with its query
    string (a token) nor its user info."""
    sql(TABLES)
    plan = write_plan(plans.phased("fine", [plans.traced("one")]))
    endpoint = f"http://tokUser:tokPass@127.0.0.1:{_closed_port()}/v1/traces?api_key=QueryTok3n"
    env = _environment(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=endpoint)
    done = _apply(plan, database, env)
    assert done.returncode == 0, done.stderr
    told = done.stdout + done.stderr
    assert "127.0.0.1" in told  # the failed export was told
    for secret in ("QueryTok3n", "tokUser", "tokPass"):
        assert secret not in told, told
