"""The `notify` plugin against real HTTP receivers (tests/httpserver.py): every event with
its content and no secret, Slack's blocks, a receiver down, answering 500, hanging;
MIGRATOR_NOTIFY_URL; a malformed `notify:` key at FILE:LINE:COL."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from migrator import api
from tests.httpserver import Server, running
from tests.plans import phased, traced
from tests.reporters import plugin_context
from tests.secrets_sweep import ENV_NAME


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.delenv("MIGRATOR_NOTIFY_URL", raising=False)
    with running() as server:
        server.route("/hook/T0K3N-secret")
        yield server


def notify(url: str, *extra: str) -> str:
    """A `notify:` key with one receiver."""
    more = "".join(f"\n    {line}" for line in extra)
    return f"notify:\n  - url: {url}{more}\n"


def context(database: str, operator: str = "dora") -> api.Context:
    return plugin_context(database, operator=operator)


def output(ctx: api.Context) -> str:
    """What a library call told the operator."""
    out: Any = ctx.out
    err: Any = ctx.err
    return str(out.getvalue()) + str(err.getvalue())


def told(server: Server, path: str = "/hook/T0K3N-secret") -> list[dict[str, Any]]:
    return [r.json() for r in server.requests_to(path)]


def no_secret(server: Server, database: str, *more: str) -> None:
    """No request the receiver got holds the DSN's password, the URL's token or `more`."""
    password = database.split("@")[0].rsplit(":", 1)[1]
    for request in server.received:
        text = request.body.decode() + json.dumps(request.headers)
        for secret in (password, "T0K3N-secret", *more):
            assert secret not in text


def warnings(sql: Any) -> list[str]:
    rows = sql("select detail from migrator.events where kind = 'hook' and status = 'warned'")
    return [row[0]["detail"] for row in rows]


def test_a_run_is_told_it_started_and_succeeded(
    receiver: Server, write_plan: Any, database: str, sql: Any
) -> None:
    url = receiver.url + "/hook/T0K3N-secret"
    plan = write_plan(phased("told", ["{sql: select 1}"]) + notify(url))
    ctx = context(database)
    assert api.apply(ctx, plan, "b") == 0
    started, succeeded = told(receiver)
    assert [started["event"], succeeded["event"]] == ["run_started", "run_succeeded"]
    assert started["outcome"] == "started" and succeeded["outcome"] == "succeeded"
    run_id = sql("select id from migrator.runs")[0][0]
    assert succeeded["schema"] == "migrator.notification/1"
    assert succeeded["run_id"] == run_id and succeeded["plan"] == "told"
    assert succeeded["transition"] == {"name": "go", "from": "a", "to": "b"}
    assert (succeeded["operator"], succeeded["command"]) == ("dora", "apply")
    assert succeeded["database"].endswith("/" + database.split("?")[0].rsplit("/", 1)[1])
    assert succeeded["settle"] is None and succeeded["checks"] == []
    assert "run 1 (go: a -> b) succeeded" in succeeded["summary"]
    no_secret(receiver, database)
    assert "T0K3N" not in output(ctx)
    assert warnings(sql) == []


def test_a_failing_post_check_is_told_with_its_difference_and_no_secret(
    receiver: Server, write_plan: Any, database: str, sql: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "check-value-s3cr3t"
    monkeypatch.setenv(ENV_NAME, secret)
    monkeypatch.setenv("NOTIFY_HOOK", receiver.url + "/hook/T0K3N-secret")
    sql("create table t (x int)")
    receiver.route("/echo", body={"token": "not it"})
    steps = ["{name: fill, sql: 'insert into t values (1)'}"]
    checks = [
        '{name: same rows, query: select x from t, expect: {equals_query: "select 2"}}',
        f'{{name: token echoed, http: {{url: "{receiver.url}/echo"}}, '
        f'expect: {{status: 200, json: {{token: "${{env:{ENV_NAME}}}"}}}}}}',
    ]
    plan = write_plan(phased("checked", steps, post_checks=checks) + notify("${env:NOTIFY_HOOK}"))
    assert api.apply(context(database), plan, "b") == 1
    *_, failed = told(receiver)
    assert (failed["event"], failed["outcome"]) == ("run_failed", "undone")
    assert failed["reason"] == "a post-check failed"
    rows, echoed = failed["checks"]
    assert (rows["name"], rows["phase"], rows["expected"]) == (
        "same rows",
        "post",
        "the same 1 row",
    )
    assert {d["only_in"] for d in rows["differences"]} == {"query", "equals_query"}
    assert [k["value"] for d in rows["differences"] for k in d["key"]] == [1, 2]
    assert echoed["name"] == "token echoed" and "***" in json.dumps(echoed["expected"])
    no_secret(receiver, database, secret)


def test_an_undo_that_fails_is_told_with_the_step_and_what_settles_it(
    receiver: Server, write_plan: Any, database: str
) -> None:
    url = receiver.url + "/hook/T0K3N-secret"
    steps = [
        "{name: fine, sql: select 1, rollback: {sql: select 1/0}}",
        "{name: bad, sql: select 1/0}",
    ]
    plan = write_plan(phased("broken", steps) + notify(url))
    assert api.apply(context(database), plan, "b") == 3
    events = told(receiver)
    assert [e["event"] for e in events] == ["run_started", "undo_failed"]
    failed = events[-1]
    assert failed["step"] == {"name": "bad", "error": "division by zero"}
    assert failed["undo"] == {"name": "fine", "error": "division by zero"}
    assert f"migrator resume {plan}" in failed["settle"]
    assert failed["reason"] == "undoing fine failed: division by zero"


@pytest.mark.parametrize(
    ("yes", "answer", "code", "told_as"),
    [
        (True, False, 0, ["run_succeeded"]),  # --yes: nobody is waited on
        (False, True, 0, ["approval_needed", "run_succeeded"]),
        (False, False, 1, ["approval_needed", "run_failed"]),
    ],
)
def test_an_approval_is_told_before_it_is_asked_only_when_someone_is_asked(
    receiver: Server,
    write_plan: Any,
    database: str,
    yes: bool,
    answer: bool,
    code: int,
    told_as: list[str],
) -> None:
    url = receiver.url + "/hook/T0K3N-secret"
    text = phased("gated", ["{sql: select 1}"]).replace(
        "    to: b\n", "    to: b\n    approval: true\n"
    )
    plan = write_plan(text + notify(url, "on: [approval_needed, run_failed, run_succeeded]"))
    ctx = context(database)
    asked: list[int] = []

    def confirm(question: str) -> bool:
        asked.append(len(told(receiver)))  # what the receiver had been told by then
        return answer

    ctx.assume_yes, ctx.interactive, ctx.confirm = yes, not yes, confirm
    assert api.apply(ctx, plan, "b") == code
    events = told(receiver)
    assert [e["event"] for e in events] == told_as
    if yes:
        assert asked == []
        return
    assert asked == [1]  # approval_needed arrived before the question was asked
    assert events[0]["outcome"] == "awaiting approval"
    assert "--yes" in events[0]["settle"]
    if not answer:
        assert events[1]["outcome"] == "nothing applied"
        assert f"migrator apply {plan} --to b" in events[1]["settle"]


def test_slack_gets_blocks_with_a_text_fallback(
    receiver: Server, write_plan: Any, database: str
) -> None:
    url = receiver.url + "/hook/T0K3N-secret"
    checks = ["{name: five, query: select 4, expect: 5}"]
    plan = write_plan(
        phased("slacked", [traced("one")], pre_checks=checks)
        + notify(url, "format: slack", "on: [run_failed]")
    )
    assert api.apply(context(database), plan, "b") == 1
    [message] = told(receiver)
    assert "plan slacked, run 1 (go: a -&gt; b) failed (nothing applied)" in message["text"]
    blocks = message["blocks"]
    assert blocks[0]["type"] == "header" and "slacked" in blocks[0]["text"]["text"]
    fields = [f["text"] for f in blocks[1]["fields"]]
    assert "*Transition*\ngo (a → b)" in fields and "*Operator*\ndora" in fields
    texts = [b["text"]["text"] for b in blocks[2:] if b["type"] == "section"]
    assert "*Check* `five` (pre-check): actual 4, expected 5" in texts
    assert any(t.startswith("*To settle it*\nnothing was applied") for t in texts)
    assert blocks[-1]["type"] == "context"


def test_a_receiver_that_is_down_never_fails_the_run_and_is_warned_by_host(
    write_plan: Any, database: str, sql: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with running() as gone:
        url = gone.url + "/hook/T0K3N-secret"  # a port nobody listens on once it stops
    plan = write_plan(phased("lonely", ["{sql: select 1}"]) + notify(url, "timeout: 2s"))
    ctx = context(database)
    assert api.apply(ctx, plan, "b") == 0
    found = warnings(sql)
    assert len(found) == 2  # run_started, then run_succeeded
    for warning in found:
        assert f"to {gone.url} not delivered: ConnectError" in warning
        assert warning.endswith("(2 attempts)") and "T0K3N" not in warning
    assert "T0K3N" not in output(ctx)


def test_a_receiver_answering_500_is_sent_it_once_more(
    receiver: Server, write_plan: Any, database: str, sql: Any
) -> None:
    receiver.route("/flaky", status=[500, 200])
    plan = write_plan(phased("flaky", ["{sql: select 1}"]) + notify(receiver.url + "/flaky"))
    assert api.apply(context(database), plan, "b") == 0
    events = [e["event"] for e in told(receiver, "/flaky")]
    assert events == ["run_started", "run_started", "run_succeeded"]
    assert warnings(sql) == []


def test_a_receiver_that_hangs_holds_the_run_no_longer_than_its_timeout(
    receiver: Server, write_plan: Any, database: str, sql: Any
) -> None:
    held = threading.Event()
    route = receiver.route("/slow", hold=held)
    plan = write_plan(
        phased("hurried", ["{sql: select 1}"]) + notify(receiver.url + "/slow", "timeout: 1s")
    )
    try:
        assert api.apply(context(database), plan, "b") == 0
        assert not route.answered.is_set()  # the run ended while the receiver still held on
        assert not held.is_set()
        run_started = [r.json()["event"] for r in receiver.requests_to("/slow")][:2]
        assert run_started == ["run_started", "run_started"]  # its one retry
        found = warnings(sql)
        assert (
            f"notification run_started to {receiver.url} not delivered: no answer within 1s"
            in found[0]
        )
        assert found[-1] == (
            f"notification run_succeeded to {receiver.url}: no answer within 1s; "
            "the run went on without it"
        )
    finally:
        held.set()


def test_migrator_notify_url_is_told_beside_the_plans_receivers(
    receiver: Server, write_plan: Any, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver.route("/project")
    monkeypatch.setenv("MIGRATOR_NOTIFY_URL", receiver.url + "/project")
    url = receiver.url + "/hook/T0K3N-secret"
    plan = write_plan(phased("both", ["{sql: select 1}"]) + notify(url, "on: [run_succeeded]"))
    assert api.apply(context(database), plan, "b") == 0
    assert [e["event"] for e in told(receiver)] == ["run_succeeded"]
    assert [e["event"] for e in told(receiver, "/project")] == ["run_started", "run_succeeded"]
    bare = write_plan(phased("bare", ["{sql: select 1}"]), "bare.yaml")
    assert api.apply(context(database), bare, "b") == 0
    assert [e["plan"] for e in told(receiver, "/project")][-2:] == ["bare", "bare"]
    monkeypatch.setenv("MIGRATOR_NOTIFY_URL", url)  # the plan's own receiver: told once
    once = write_plan(phased("once", ["{sql: select 1}"]) + notify(url), "once.yaml")
    assert api.apply(context(database), once, "b") == 0
    assert [e["event"] for e in told(receiver) if e["plan"] == "once"] == [
        "run_started",
        "run_succeeded",
    ]


@pytest.mark.parametrize(
    ("extra", "column", "path", "message"),
    [
        ("channel: ops", 5, "notify[0].channel", "unknown key 'channel'"),
        (
            "on: [run_started, run_exploded]",
            23,
            "notify[0].on[1]",
            "unknown event 'run_exploded': the events are run_started, ",
        ),
        ("format: teams", 13, "notify[0].format", "'json' or 'slack'"),
        ("timeout: soon", 14, "notify[0].timeout", "'soon' is not a duration"),
    ],
)
def test_a_malformed_notify_key_is_refused_where_it_is_written(
    write_plan: Any, migrator: Any, extra: str, column: int, path: str, message: str
) -> None:
    text = phased("bad", ["{sql: select 1}"]) + notify("https://hooks.example/x", extra)
    plan = write_plan(text)
    result = migrator("validate", plan)
    assert result.code == 2
    line = text.count("\n")
    assert f"{plan}:{line}:{column}: {path}: " in result.out + result.err
    assert message in result.out + result.err


def test_the_documented_notify_snippet_is_a_valid_plan_key(write_plan: Any, migrator: Any) -> None:
    from pathlib import Path

    docs = (Path(__file__).parents[2] / "docs" / "integrations.md").read_text()
    section = docs.split("## Notifications", 1)[1].split("\n## ", 1)[0]
    snippet = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert snippet.startswith("notify:")
    result = migrator("validate", write_plan(phased("documented", ["{sql: select 1}"]) + snippet))
    assert result.code == 0, result.out + result.err


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://files.example/drop", ":10: notify[0].url: a receiver's url must be http://"),
        ("${env:NOTIFY_NOWHERE}", "environment variable NOTIFY_NOWHERE is not set"),
    ],
)
def test_a_receiver_it_cannot_reach_stops_the_command_before_anything_runs(
    write_plan: Any, migrator: Any, sql: Any, url: str, message: str
) -> None:
    plan = write_plan(phased("unsent", ["{sql: create table made (x int)}"]) + notify(url))
    result = migrator("apply", plan, "--to", "b")
    assert result.code == 2
    assert message in result.out + result.err
    assert sql("select to_regclass('made')") == [(None,)]


@pytest.mark.parametrize(
    "url",
    [
        "ftp://files.example/drop",
        "hooks.slack.com/services/T000/B000/XXXX",
        "http://",
        "http://[::1/x",
        "http://127.0.0.1:99999/x",
        "https://hooks.slack.com:T000SECRET/B000/X",
    ],
)
def test_a_literal_url_that_cannot_be_a_receiver_is_refused_where_it_is_written(
    write_plan: Any, migrator: Any, url: str
) -> None:
    text = phased("bad", ["{sql: select 1}"]) + notify(f'"{url}"')
    plan = write_plan(text)
    result = migrator("validate", plan)
    said = result.out + result.err
    assert result.code == 2, said
    line = text.count("\n")
    assert f"{plan}:{line}:10: notify[0].url: a receiver's url must be http:// or https://" in said
    assert "T000" not in said and "ValueError" not in said and "Traceback" not in said


@pytest.mark.parametrize(
    "value",
    [
        "http://[::1/x",
        "https://hooks.slack.com:T000SECRET/B000/X",
        "ftp://files.example/T000SECRET",
    ],
)
def test_a_receiver_url_from_the_environment_that_cannot_be_one_stops_the_command(
    receiver: Server,
    write_plan: Any,
    migrator: Any,
    sql: Any,
    monkeypatch: pytest.MonkeyPatch,
    value: str,
) -> None:
    monkeypatch.setenv("NOTIFY_HOOK", value)
    good = receiver.url + "/hook/T0K3N-secret"
    text = phased("unsent", ["{sql: create table made (x int)}"])
    plan = write_plan(text + notify(good) + '  - url: "${env:NOTIFY_HOOK}"\n')
    result = migrator("apply", plan, "--to", "b")
    said = result.out + result.err
    assert result.code == 2, said
    assert f"notify: {plan}: notify[1].url: a receiver's url must be http://" in said
    assert "T000" not in said and "ValueError" not in said and "T0K3N" not in said
    assert sql("select to_regclass('made')") == [(None,)]
    assert receiver.received == []


def test_a_malformed_migrator_notify_url_is_named_never_shown(
    write_plan: Any, migrator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MIGRATOR_NOTIFY_URL", "https://hooks.slack.com:T000SECRET/B000/X")
    result = migrator("apply", write_plan(phased("bare", ["{sql: select 1}"])), "--to", "b")
    said = result.out + result.err
    assert result.code == 2, said
    assert "notify: MIGRATOR_NOTIFY_URL: a receiver's url must be http://" in said
    assert "T000" not in said and "ValueError" not in said


def test_a_plan_receiver_from_the_environment_that_is_migrator_notify_url_is_told_once(
    receiver: Server, write_plan: Any, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = receiver.url + "/hook/T0K3N-secret"
    monkeypatch.setenv("NOTIFY_HOOK", url)
    monkeypatch.setenv("MIGRATOR_NOTIFY_URL", url)
    plan = write_plan(phased("once", ["{sql: select 1}"]) + notify('"${env:NOTIFY_HOOK}"'))
    assert api.apply(context(database), plan, "b") == 0
    assert [e["event"] for e in told(receiver)] == ["run_started", "run_succeeded"]


def test_a_receivers_user_and_path_words_are_not_masked_in_what_settles_a_run(
    receiver: Server, write_plan: Any, database: str, sql: Any
) -> None:
    receiver.route("/hooks/migrator")
    host = receiver.url.removeprefix("http://")
    steps = [
        "{name: fine, sql: select 1, rollback: {sql: select 1/0}}",
        "{name: bad, sql: select 1/0}",
    ]
    plan = write_plan(
        phased("broken", steps)
        + notify(f"http://migrator:S3cretHookPw@{host}/hooks/migrator")
        + notify(receiver.url + "/hook/T0K3N-secret").removeprefix("notify:\n")
    )
    ctx = context(database)
    assert api.apply(ctx, plan, "b") == 3
    [*_, failed] = told(receiver)
    assert f"`migrator resume {plan}`" in failed["settle"], failed["settle"]
    assert "***" not in json.dumps(failed)
    said = output(ctx)
    assert f"migrator resume {plan}" in said and "S3cretHookPw" not in said
    no_secret(receiver, database, "S3cretHookPw")


@pytest.mark.parametrize("command", ["rollback", "resume"])
def test_an_undo_finished_by_rollback_or_resume_is_told_as_succeeding(
    receiver: Server, write_plan: Any, database: str, sql: Any, command: str
) -> None:
    url = receiver.url + "/hook/T0K3N-secret"
    sql("create table undo_ok (x int)")  # empty: the undo of `fine` fails until it has a row
    steps = [
        "{name: fine, sql: select 1, rollback: {sql: select 1/(select count(*) from undo_ok)}}",
        "{name: bad, sql: select 1/0}",
    ]
    plan = write_plan(phased("stuck", steps) + notify(url))
    assert api.apply(context(database), plan, "b") == 3
    sql("insert into undo_ok values (1)")
    ctx = context(database)
    ctx.assume_yes = True
    settle = api.rollback if command == "rollback" else api.resume
    assert settle(ctx, plan) == 0, output(ctx)
    events = told(receiver)[2:]  # after this run's run_started and undo_failed of the apply
    assert [(e["event"], e["outcome"], e["command"]) for e in events] == [
        ("run_started", "resumed", command),
        ("run_succeeded", "rolled back", command),
    ]
    assert events[-1]["settle"] is None
    assert "succeeded (rolled back)" in events[-1]["summary"]
