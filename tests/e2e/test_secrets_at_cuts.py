"""Secrets at every place text is cut short, and flags set from a secret read back later.

The sweep's `${env:...}` secret is placed across each cut: an HTTP body quoted in an
error (200 characters), a body recorded as a check's actual value (200 per string), a
mismatch message (80), a redirect's location, a command's output kept in the audit trail
(its last 4,000 characters). Every output, event and row is searched for every piece of
12 characters of it (the sweep does it too, for the whole session).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from tests.httpserver import reply, serving
from tests.secrets_sweep import ENV_NAME, FRAGMENT, SecretsSweep, sweep_of

SECRET = "${env:" + ENV_NAME + "}"
AUTH = f'headers: {{Authorization: "Bearer {SECRET}"}}'


@pytest.fixture
def sweep(request: pytest.FixtureRequest) -> SecretsSweep:
    found = sweep_of(request.config)
    assert found is not None, "tests/conftest.py registers the secrets sweep"
    return found


def leaks(sweep: SecretsSweep, text: str) -> list[str]:
    """The pieces of the session's secrets in `text`."""
    return [
        piece
        for value in (sweep.env_value, sweep.password)
        for piece in sweep.fragments(value)
        if piece in text
    ]


def recorded(sql: Any) -> str:
    """Everything schema migrator holds of the runs: events, runs, checkpoints."""
    rows = sql(
        "select t::text from migrator.events t union all select t::text from migrator.runs t "
        "union all select t::text from migrator.checkpoints t"
    )
    return "\n".join(r[0] for r in rows)


@pytest.fixture
def straddling(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """An endpoint that puts the token it was sent across each cut of what it answers."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    seen: dict[str, Any] = {"tokens": []}

    def answer(request: BaseHTTPRequestHandler) -> None:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        seen["tokens"].append(token)
        half = len(token) // 2
        if request.path == "/text":  # quoted in the error: one line, cut at 200
            body = ("e" * (199 - half) + token + " tail").encode()
            reply(request, 500, body, "text/plain")
        elif request.path == "/json":  # recorded as the actual value, and a mismatch
            payload = {
                "note": "a" * (199 - half) + token + "b" * 40,
                "mismatch": "m" * (79 - half) + token + "z" * 40,
            }
            reply(request, 200, json.dumps(payload).encode())
        elif request.path == "/lines":  # not JSON: the body on one line, cut at 200
            body = ("\n".join(["x" * 20] * 8) + "\n" + "y" * (30 - half) + token).encode()
            reply(request, 200, body + b" and more" * 20, "text/plain")
        elif request.path == "/redirect":
            request.send_response(302)
            request.send_header("Location", "http://example.test/" + "l" * (178 - half) + token)
            request.send_header("Content-Length", "0")
            request.end_headers()
        else:
            reply(request, 404, b"{}")

    with serving(answer) as url:
        seen["url"] = url
        yield seen


def test_a_secret_across_every_cut_leaves_no_piece(
    migrator: Any, write_plan: Any, sql: Any, straddling: dict[str, Any], sweep: SecretsSweep
) -> None:
    url = straddling["url"]
    cut = "a" * 100 + "{t}" + "b" * 3985
    script = (
        "import os, sys; t = os.environ['T']; "
        f"print({cut!r}.format(t=t)); print({cut!r}.format(t=t), file=sys.stderr); "
        "sys.exit(int(os.environ['CODE']))"
    )
    plans = {
        "text": f"""\
plan: cut-text
kind: hotfix
steps:
  - http: {{method: POST, url: "{url}/text", {AUTH}}}
""",
        "json": f"""\
plan: cut-json
kind: hotfix
pre_checks:
  - name: the answer
    http: {{url: "{url}/json", {AUTH}}}
    expect: {{status: 200, json: {{mismatch: expected}}}}
steps: [{{sql: select 1}}]
""",
        "lines": f"""\
plan: cut-lines
kind: hotfix
pre_checks:
  - name: the answer
    http: {{url: "{url}/lines", {AUTH}}}
    expect: {{json: {{a: 1}}}}
steps: [{{sql: select 1}}]
""",
        "redirect": f"""\
plan: cut-redirect
kind: hotfix
steps:
  - http: {{url: "{url}/redirect", {AUTH}}}
""",
        "command": f"""\
plan: cut-command
kind: hotfix
steps:
  - name: talks a lot
    command:
      argv: [{sys.executable}, -c, {json.dumps(script)}]
      env: {{T: "{SECRET}", CODE: "0"}}
  - name: talks a lot and fails
    command:
      argv: [{sys.executable}, -c, {json.dumps(script)}]
      env: {{T: "{SECRET}", CODE: "3"}}
""",
    }
    runs = []
    for name, text in plans.items():
        plan = write_plan(text, f"{name}.yaml")
        runs.append(migrator("apply", plan, "--log-format", "json"))
        runs.append(migrator("apply", plan, "--output", "json"))
    run_ids = [r[0] for r in sql("select id from migrator.runs order by id")]
    runs += [migrator("report", str(i)) for i in run_ids]
    runs += [migrator("report", str(i), "--output", "json") for i in run_ids]
    runs += [migrator("history", write_plan(t, f"{n}.yaml")) for n, t in plans.items()]

    assert set(straddling["tokens"]) == {sweep.env_value}  # the token did travel
    assert [r.code for r in runs[:10]] == [1] * 10, [r.out + r.err for r in runs[:10]]
    trail = recorded(sql)
    # Each cut was reached: its text is there, masked or dropped at the cut.
    assert "e" * 150 in trail and "a" * 150 in trail and "m" * 40 in trail
    assert "l" * 150 in trail and "b" * 3000 in trail
    for r in runs:
        assert leaks(sweep, r.out + r.err) == [], r.out + r.err
    assert leaks(sweep, trail) == []
    assert FRAGMENT == 12


FLAG_PLAN = f"""\
plan: secret-flag
phases: [none, stored, rotated]
transitions:
  - name: store
    from: none
    to: stored
    steps:
      - flag: {{name: api_token, value: "{SECRET}"}}
      - flag: {{name: api_token, value: "Bearer {SECRET}", store: "file:flags.json"}}
  - name: rotate
    from: stored
    to: rotated
    steps:
      - flag: {{name: api_token, value: rotated}}
      - flag: {{name: api_token, value: rotated, store: "file:flags.json"}}
    post_checks:
      - flag_is: {{name: api_token, value: rotated}}
"""

PEEK = """\
plan: peek
kind: hotfix
pre_checks:
  - name: the table's token
    flag_is: {name: api_token, value: not-it}
  - name: the file's token
    flag_is: {name: api_token, value: not-it, store: "file:flags.json"}
steps: [{sql: select 1}]
"""


def test_a_flag_set_from_a_secret_stays_masked_and_comes_back_exactly(
    migrator: Any,
    write_plan: Any,
    sql: Any,
    sweep: SecretsSweep,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = sweep.env_value
    plan = write_plan(FLAG_PLAN)
    peek = write_plan(PEEK, "peek.yaml")
    flags = tmp_path / "flags.json"
    first = migrator("apply", plan, "--to", "stored")
    assert first.code == 0, first.out + first.err
    stored = sql("select value #>> '{}' from migrator.flags where name = 'api_token'")
    assert stored == [(token,)]
    assert json.loads(flags.read_text()) == {"api_token": f"Bearer {token}"}

    monkeypatch.delenv(ENV_NAME)  # later runs do not have the secret
    try:
        runs = [migrator("apply", peek), migrator("apply", peek, "--output", "json")]
        assert [r.code for r in runs] == [1, 1]
        assert "actual ***" in runs[0].out + runs[0].err
        runs.append(migrator("apply", plan, "--to", "rotated", "--log-format", "json"))
        assert runs[-1].code == 0, runs[-1].out + runs[-1].err
        assert json.loads(flags.read_text()) == {"api_token": "rotated"}
        runs += [
            migrator("status", plan),
            migrator("status", plan, "--output", "json"),
            migrator("history", plan, "--output", "json"),
            migrator("history", peek),
            migrator("docs", plan, dsn=False),
        ]
        run_ids = [r[0] for r in sql("select id from migrator.runs order by id")]
        runs += [migrator("report", str(i), "--output", "json") for i in run_ids]
        runs.append(migrator("rollback", plan, "--log-format", "json"))  # rotate, back
        assert runs[-1].code == 0, runs[-1].out + runs[-1].err
        # Restored exactly, and still known as a secret.
        assert sql("select value #>> '{}' from migrator.flags where name = 'api_token'") == [
            (token,)
        ]
        assert json.loads(flags.read_text()) == {"api_token": f"Bearer {token}"}
        assert sql("select store, name from migrator.secret_flags order by 1") == [
            (f"file:{flags}", "api_token"),
            ("table", "api_token"),
        ]
        runs.append(migrator("apply", peek))
    finally:
        monkeypatch.setenv(ENV_NAME, token)
    flags.unlink()  # it holds the secret by design: the application reads it
    for r in runs:
        assert leaks(sweep, r.out + r.err) == [], r.out + r.err
    assert leaks(sweep, recorded(sql)) == []
    memos = sql(
        "select detail->'memo' from migrator.events where detail ? 'memo' and step like 'flag%'"
    )
    assert memos and all(m[0].get("kept") for m in memos if m[0])  # values kept elsewhere


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://ops:p@ss#{pw}@127.0.0.1:1/prod",
        "password={pw} Secret host=127.0.0.1 port=1",
        "host=127.0.0.1 port=1 password='{pw} unterminated",
        "postgresql://ops:{pw} x@127.0.0.1:1/prod",
        "postgresql://ops:pw%zz{pw}@127.0.0.1:1/prod",
        "postgresql://127.0.0.1:1/prod?password={pw} x",
    ],
)
def test_a_dsn_that_cannot_be_parsed_never_appears(
    dsn: str, migrator: Any, write_plan: Any, sweep: SecretsSweep, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess

    plan = write_plan("plan: p\nkind: hotfix\nsteps: [{sql: select 1}]\n")
    given = dsn.format(pw=sweep.password)
    by_option = migrator("apply", plan, "--dsn", given, dsn=False)
    monkeypatch.setenv("MIGRATOR_DSN", given)
    by_env = migrator("status", plan, dsn=False)
    done = subprocess.run(
        [sys.executable, "-m", "migrator", "history", str(plan)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (by_option.code, by_env.code, done.returncode) == (5, 5, 5)
    assert "the DSN given by --dsn (unparseable)" in by_option.err
    assert "the DSN given by MIGRATOR_DSN (unparseable)" in by_env.err
    for text in (by_option.out + by_option.err, by_env.out + by_env.err, done.stdout + done.stderr):
        assert leaks(sweep, text) == [], text
        assert "127.0.0.1" not in text  # no part of it at all
