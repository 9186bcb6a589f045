"""The http action and check, against a real HTTP server on 127.0.0.1, through the CLI."""

from __future__ import annotations

import json
import secrets
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from migrator_http.http import first_mismatch
from tests.httpserver import Server, running
from tests.plans import phased, sql_step


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with running() as state:
        yield state


MAKE_A_TABLE = sql_step("make a table", "create table made (id int)", "drop table made")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _events(sql: Any, kind: str, status: str) -> list[dict[str, Any]]:
    rows = sql(
        "select detail from migrator.events where kind = %s and status = %s order by id",
        kind,
        status,
    )
    return [r[0] for r in rows]


# -- the action -------------------------------------------------------------------------------


def test_the_action_sends_method_headers_and_resolved_json(
    migrator: Any, write_plan: Any, sql: Any, server: Server
) -> None:
    server.route("/deploy", 201, {"deployed": True})
    plan = write_plan(
        f"""\
        plan: deploy
        kind: hotfix
        vars: {{release: r-42, version: v1.2.1}}
        steps:
          - name: tell the edge function
            http:
              method: POST
              url: {server.url}/deploy
              headers: {{X-Release: "${{release}}"}}
              json: {{version: "${{version}}", batch: 3, tags: [a, "${{release}}"]}}
        """
    )
    result = migrator("apply", plan)
    assert result.code == 0, result.out
    [request] = server.requests_to("/deploy")
    assert request.method == "POST"
    assert request.headers["X-Release"] == "r-42"
    assert request.headers["Content-Type"] == "application/json"
    assert request.json() == {"version": "v1.2.1", "batch": 3, "tags": ["a", "r-42"]}
    [done] = _events(sql, "step", "done")
    assert set(done["memo"]) == {"status", "elapsed_ms"}
    assert done["memo"]["status"] == 201
    assert isinstance(done["memo"]["elapsed_ms"], int)
    assert done["describe"].splitlines() == [
        f"POST {server.url}/deploy",
        "X-Release: ${release}",
        '{"version": "${version}", "batch": 3, "tags": ["a", "${release}"]}',
    ]


def test_a_500_fails_the_step_and_undoes_the_run(
    migrator: Any, write_plan: Any, sql: Any, server: Server
) -> None:
    server.route("/notify", 500, b"database is on fire\n  please call someone")
    notify = f'name: notify\nhttp: {{method: PUT, url: "{server.url}/notify", json: {{x: 1}}}}'
    plan = write_plan(phased("broken-endpoint", [MAKE_A_TABLE, notify]))
    result = migrator("apply", plan, "--to", "b")
    assert result.code == 1, result.out
    assert len(server.requests_to("/notify")) == 1
    message = (
        f"PUT {server.url}/notify answered 500 Internal Server Error: "
        "database is on fire please call someone"
    )
    assert message in result.out
    [failed] = _events(sql, "step", "failed")
    assert failed["error"] == message
    assert failed["action"] == "http"
    assert sql("select status from migrator.runs") == [("undone",)]
    assert sql("select to_regclass('made')::text") == [(None,)]
    assert [e["action"] for e in _events(sql, "undo", "done")] == ["sql"]
    status = migrator("status", plan, "--output", "json")
    assert json.loads(status.out)["phase"] == "a"


def test_connection_refused_fails_with_a_clear_message(
    migrator: Any, write_plan: Any, sql: Any
) -> None:
    url = f"http://127.0.0.1:{_free_port()}/health"
    plan = write_plan(
        f"""\
        plan: nobody-home
        kind: hotfix
        steps:
          - {{name: ping, http: {{url: "{url}"}}}}
        """
    )
    result = migrator("apply", plan)
    assert result.code == 1, result.out
    [failed] = _events(sql, "step", "failed")
    assert failed["error"].startswith(f"GET {url}: cannot connect: ")
    assert "\n" not in failed["error"]
    assert f"GET {url}: cannot connect" in result.out
    assert sql("select status from migrator.runs") == [("undone",)]


def test_an_endpoint_that_does_not_answer_in_time_fails_the_step(
    migrator: Any, write_plan: Any, sql: Any, server: Server
) -> None:
    release = threading.Event()  # the server holds its answer until the test sets this
    slow = server.route("/slow", 200, {"ok": True}, hold=release)
    plan = write_plan(
        f"""\
        plan: slow
        kind: hotfix
        steps:
          - {{name: slow call, http: {{url: "{server.url}/slow", timeout: 0.3}}}}
        """
    )
    try:
        result = migrator("apply", plan)
        assert result.code == 1, result.out
        # the step gave up while the server still held its answer: it did not wait for it
        assert not slow.answered.is_set()
    finally:
        release.set()
    [failed] = _events(sql, "step", "failed")
    assert failed["error"].startswith(f"GET {server.url}/slow: no answer within 0.3s")


def test_step_retries_call_again_until_the_endpoint_answers(
    migrator: Any, write_plan: Any, sql: Any, server: Server
) -> None:
    server.route("/warmup", [503, 502, 200], {"warm": True})
    plan = write_plan(
        f"""\
        plan: flaky
        kind: hotfix
        steps:
          - {{name: warm up, http: {{method: POST, url: "{server.url}/warmup"}}, retries: 2}}
        """
    )
    result = migrator("apply", plan)
    assert result.code == 0, result.out
    assert len(server.requests_to("/warmup")) == 3
    retries = _events(sql, "step", "retry")
    assert [r["error"].split(": ")[0] for r in retries] == [
        f"POST {server.url}/warmup answered 503 Service Unavailable",
        f"POST {server.url}/warmup answered 502 Bad Gateway",
    ]
    assert _events(sql, "step", "done")[0]["memo"]["status"] == 200


# -- the check --------------------------------------------------------------------------------

PROFILE = {
    "profile": {"id": 7, "results_version": "v1.2.1", "scores": [1, 2, 3], "ok": True},
    "served_by": "edge-3",
}


def _checked_plan(write_plan: Any, server: Server, expect: str) -> Any:
    check = (
        f'name: the profile is served\nhttp: {{url: "{server.url}/profile/7"}}\nexpect: {expect}'
    )
    return write_plan(
        phased(
            "checked",
            [MAKE_A_TABLE],
            post_checks=[check],
            variables="{scoring_version: v1.2.1}",
        )
    )


def test_the_check_passes_on_a_json_subset(
    migrator: Any, write_plan: Any, sql: Any, server: Server
) -> None:
    server.route("/profile/7", 200, PROFILE)
    expect = (
        "{status: 200, json: {profile: {results_version: '${scoring_version}', "
        "scores: [1, 2, 3], ok: true}}}"
    )
    result = migrator("apply", _checked_plan(write_plan, server, expect), "--to", "b")
    assert result.code == 0, result.out
    assert [r.method for r in server.requests_to("/profile/7")] == ["GET"]
    [check] = _events(sql, "check", "passed")
    assert check["actual"] == {"status": 200, "json": PROFILE}
    assert check["expected"] == {
        "status": 200,
        "json": {"profile": {"results_version": "v1.2.1", "scores": [1, 2, 3], "ok": True}},
    }
    assert sql("select to_regclass('made')::text") == [("made",)]


def test_a_mismatched_nested_value_fails_the_check_and_names_its_path(
    migrator: Any, write_plan: Any, sql: Any, server: Server
) -> None:
    server.route("/profile/7", 200, {**PROFILE, "profile": {"results_version": "v1.2.0"}})
    expect = "{json: {profile: {results_version: '${scoring_version}'}}}"
    result = migrator("apply", _checked_plan(write_plan, server, expect), "--to", "b")
    assert result.code == 1, result.out
    detail = 'profile.results_version: expected "v1.2.1", got "v1.2.0"'
    assert detail in result.out
    [check] = _events(sql, "check", "failed")
    assert check["detail"] == detail
    assert check["actual"]["json"]["profile"] == {"results_version": "v1.2.0"}
    assert check["expected"] == {
        "status": "2xx",
        "json": {"profile": {"results_version": "v1.2.1"}},
    }
    assert sql("select status from migrator.runs") == [("undone",)]
    assert sql("select to_regclass('made')::text") == [(None,)]


@pytest.mark.parametrize(
    ("answer", "expect", "passed", "detail"),
    [
        (204, "{status: 204}", True, ""),
        (503, "{status: 200}", False, "status: expected 200, got 503 Service Unavailable"),
        (200, "{status: 201}", False, "status: expected 201, got 200 OK"),
        (404, "{}", False, "status: expected 2xx, got 404 Not Found"),
    ],
)
def test_a_status_only_expectation(
    migrator: Any,
    write_plan: Any,
    sql: Any,
    server: Server,
    answer: int,
    expect: str,
    passed: bool,
    detail: str,
) -> None:
    server.route("/profile/7", answer, None)
    result = migrator("apply", _checked_plan(write_plan, server, expect), "--to", "b")
    assert result.code == (0 if passed else 1), result.out
    [check] = sql("select status, detail from migrator.events where kind = 'check'")
    assert check[0] == ("passed" if passed else "failed")
    assert check[1]["detail"] == detail
    assert check[1]["actual"] == {"status": answer}


def test_a_check_on_a_body_that_is_not_json_fails(
    migrator: Any, write_plan: Any, sql: Any, server: Server
) -> None:
    server.route("/profile/7", 200, b"<html>maintenance</html>")
    result = migrator("apply", _checked_plan(write_plan, server, "{json: {ok: true}}"), "--to", "b")
    assert result.code == 1, result.out
    [check] = _events(sql, "check", "failed")
    assert check["detail"] == "the response is not JSON: <html>maintenance</html>"


def test_an_unreachable_check_endpoint_fails_the_check(
    migrator: Any, write_plan: Any, sql: Any
) -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    plan = _checked_plan(write_plan, Server(url=url), "{status: 200}")
    result = migrator("apply", plan, "--to", "b")
    assert result.code == 1, result.out
    [check] = _events(sql, "check", "failed")
    assert check["detail"].startswith(f"error: GET {url}/profile/7: cannot connect")


@pytest.mark.parametrize(
    ("expected", "actual", "mismatch"),
    [
        ({"a": {"b": 1}}, {"a": {"b": 1, "c": 2}, "d": 3}, None),
        ({"a": {"b": 1}}, {"a": {"c": 2}}, "a.b: missing (expected 1)"),
        ({"a": [1, {"b": "x"}]}, {"a": [1, {"b": "y"}]}, 'a[1].b: expected "x", got "y"'),
        ({"a": [1, 2]}, {"a": [1, 2, 3]}, "a: expected 2 items, got 3"),
        ({"a": True}, {"a": 1}, "a: expected true, got 1"),
        ({"a": 1}, {"a": 1.0}, None),
        ({"a": None}, {"a": None}, None),
        ({"a": {"b": 1}}, {"a": "b"}, 'a: expected an object, got "b"'),
        ({"a": "1"}, {"a": [1]}, 'a: expected "1", got [1]'),
        ({"x-y": 1}, {"x-y": 2}, 'json["x-y"]: expected 1, got 2'),
        ([1], {"a": 1}, 'json: expected an array, got {"a": 1}'),
    ],
)
def test_first_mismatch(expected: Any, actual: Any, mismatch: str | None) -> None:
    assert first_mismatch(expected, actual) == mismatch


# -- secrets ----------------------------------------------------------------------------------


def _secret_plan(write_plan: Any, server: Server) -> Any:
    return write_plan(
        f"""\
        plan: with-secrets
        kind: hotfix
        pre_checks:
          - name: the api is up
            http:
              url: {server.url}/health
              headers: {{Authorization: "Bearer ${{env:MIGRATOR_TEST_TOKEN}}"}}
            expect: {{status: 200, json: {{ok: true}}}}
        steps:
          - name: deploy the function
            http:
              method: POST
              url: {server.url}/deploy
              headers: {{Authorization: "Bearer ${{env:MIGRATOR_TEST_TOKEN}}"}}
              json: {{token_check: "${{env:MIGRATOR_TEST_TOKEN}}"}}
          - name: remember it
            flag: {{name: DEPLOYED, value: true}}
        post_checks:
          - name: the api knows the caller
            http:
              url: {server.url}/whoami
              headers: {{Authorization: "Bearer ${{env:MIGRATOR_TEST_TOKEN}}"}}
            expect: {{status: 200, json: {{token: "${{env:MIGRATOR_TEST_TOKEN}}"}}}}
        """
    )


def test_secrets_reach_the_server_and_nothing_else(
    migrator: Any,
    write_plan: Any,
    sql: Any,
    server: Server,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = f"tok-{secrets.token_hex(12)}"
    monkeypatch.setenv("MIGRATOR_TEST_TOKEN", token)
    server.route("/health", 200, {"ok": True})
    server.route("/deploy", 200, {"echo": f"Bearer {token}"})  # a chatty endpoint
    server.route("/whoami", 200, {"token": token, "name": "ci"})
    plan = _secret_plan(write_plan, server)

    outputs = [migrator("plan", plan), migrator("plan", plan, "--output", "json")]
    # Each dry run evaluates the GET pre-check, calls nothing else, and shows templates.
    assert [r.path for r in server.received] == ["/health", "/health"]
    assert "Authorization: Bearer ${env:MIGRATOR_TEST_TOKEN}" in outputs[0].out
    assert (
        "post-check the api knows the caller: expect status 200, "
        'JSON containing {"token": "${env:MIGRATOR_TEST_TOKEN}"}'
    ) in outputs[0].out
    assert "${env:MIGRATOR_TEST_TOKEN}" in outputs[1].out

    outputs.append(migrator("apply", plan, "--output", "json", "--log-format", "json"))
    assert outputs[-1].code == 0, outputs[-1].err
    outputs.append(migrator("rollback", plan))
    assert outputs[-1].code == 0, outputs[-1].out
    outputs.append(migrator("apply", plan))
    assert outputs[-1].code == 0, outputs[-1].out
    outputs += [migrator("history", plan, "--output", "json"), migrator("history", plan)]
    outputs.append(migrator("status", plan, "--output", "json"))

    # The server did receive the real token, from the action and from both checks.
    calls = [r for r in server.received if r.path in ("/health", "/deploy", "/whoami")]
    assert len(calls) == 2 + 3 * 2  # the dry runs' pre-check, then two applies
    assert {r.headers["Authorization"] for r in calls} == {f"Bearer {token}"}
    assert server.requests_to("/deploy")[0].json() == {"token_check": token}

    for out in outputs:
        assert token not in out.out and token not in out.err
    assert "***" in outputs[2].out  # the check's actual and expected JSON, masked
    log_lines = [json.loads(line) for line in outputs[2].err.splitlines() if line.startswith("{")]
    assert any(e["kind"] == "step" and e["status"] == "done" for e in log_lines)
    history = json.loads(outputs[-3].out)
    assert "***" in json.dumps(history)
    for table in ("runs", "events", "flags", "plan_state"):
        rows = sql(f"select t::text from migrator.{table} t")
        assert rows, table
        for (row,) in rows:
            assert token not in str(row), f"migrator.{table}: {row}"


# -- regressions found while building the plugin -------------------------------------------


def test_a_failed_call_leaves_no_secret_in_the_runs_table(
    migrator: Any,
    write_plan: Any,
    sql: Any,
    server: Server,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = f"tok-{secrets.token_hex(12)}"
    monkeypatch.setenv("MIGRATOR_TEST_TOKEN", token)
    server.route("/deploy", 500, {"echo": token})  # an endpoint that echoes what it was sent
    plan = write_plan(
        f"""\
        plan: leaky
        kind: hotfix
        steps:
          - name: deploy
            http:
              method: POST
              url: {server.url}/deploy
              headers: {{Authorization: "Bearer ${{env:MIGRATOR_TEST_TOKEN}}"}}
        """
    )
    result = migrator("apply", plan)
    assert result.code == 1, result.out
    assert token not in result.out  # masked on screen ...
    assert all(token not in row for (row,) in sql("select t::text from migrator.events t"))
    history = migrator("history", plan, "--output", "json")  # ... but a later process shows it
    assert token not in history.out
    assert all(token not in row for (row,) in sql("select t::text from migrator.runs t"))


def test_a_dry_run_sends_no_unsafe_request(migrator: Any, write_plan: Any, server: Server) -> None:
    server.route("/touch", 200, {"ok": True})
    plan = write_plan(
        f"""\
        plan: dry
        kind: hotfix
        pre_checks:
          - name: touch
            http: {{method: POST, url: "{server.url}/touch"}}
            expect: {{status: 200}}
        steps:
          - {{sql: select 1}}
        """
    )
    result = migrator("plan", plan)
    assert result.code == 0, result.out
    assert server.requests_to("/touch") == []
    assert "not called in a dry run: POST may change things" in result.out
