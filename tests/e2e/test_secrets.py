"""The sweep's two secrets, sent through every command and every place a plan may use them.

The sweep (tests/secrets_sweep.py) searches everything these runs print, log, record
and write; the tests here also check their own outputs, so that a leak fails them by
name, and prove the secrets did travel: the endpoint received the real token, every
DSN carried the password.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from tests.httpserver import body_of, reply, serving
from tests.rehearsing import fitting_pg_dump
from tests.secrets_sweep import ENV_NAME, SecretsSweep, sweep_of, with_password

SECRET = "${env:" + ENV_NAME + "}"

PLAN = """\
plan: sweep-secrets
description: every place a plan may use a secret from the environment
phases: [before, after]
transitions:
  - name: go
    from: before
    to: after
    approval: true
    pre_checks:
      - name: the api knows us
        http: {{url: "{url}/echo", headers: {{Authorization: "Bearer {secret}"}}}}
        expect: {{status: 200}}
    steps:
      - name: tell the api
        http:
          method: POST
          url: "{url}/echo?token={secret}"
          headers: {{Authorization: "Bearer {secret}"}}
          json: {{token: "{secret}"}}
      - name: a script that prints its token
        command:
          argv: [{python}, -c, "import os, sys; t = os.environ['TOKEN']; print(t); sys.exit(0)"]
          env: {{TOKEN: "{secret}"}}
      - name: a person checks
        manual: "sign in with {secret} and look at the dashboard"
      - name: a table
        sql: create table swept (id int)
        rollback: {{sql: drop table swept}}
    post_checks:
      - name: the api echoes the token
        http: {{url: "{url}/echo", headers: {{Authorization: "Bearer {secret}"}}}}
        expect: {{status: 200, json: {{authorization: "Bearer {secret}"}}}}
  - name: back
    from: after
    to: before
    steps:
      - {{sql: drop table swept}}
"""

FAILING = """\
plan: sweep-failing
kind: hotfix
steps:
  - name: a table
    sql: create table failing (id int)
    rollback: {{sql: drop table failing}}
  - name: an endpoint that fails and echoes what it got
    http: {{method: POST, url: "{url}/fail", headers: {{Authorization: "Bearer {secret}"}}}}
"""


@pytest.fixture
def echo(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A chatty HTTP endpoint: /echo answers 200 with what it was sent, /fail 500 with it."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    seen: dict[str, Any] = {"authorizations": [], "bodies": []}

    def answer(request: BaseHTTPRequestHandler) -> None:
        body = body_of(request).decode()
        auth = request.headers.get("Authorization", "")
        seen["authorizations"].append(auth)
        seen["bodies"].append(body)
        payload = json.dumps({"authorization": auth, "path": request.path, "body": body})
        reply(request, 500 if request.path.startswith("/fail") else 200, payload.encode())

    with serving(answer) as url:
        seen["url"] = url
        yield seen


@pytest.fixture
def sweep(request: pytest.FixtureRequest) -> SecretsSweep:
    found = sweep_of(request.config)
    assert found is not None, "tests/conftest.py registers the secrets sweep"
    return found


def test_the_session_carries_both_secrets(sweep: SecretsSweep, database: str) -> None:
    import os

    assert f"postgres:{sweep.password}@" in database
    assert os.environ[ENV_NAME] == sweep.env_value


def test_every_command_keeps_both_secrets_to_itself(
    migrator: Any,
    write_plan: Any,
    sql: Any,
    echo: dict[str, Any],
    sweep: SecretsSweep,
    admin_dsn: str,
    database: str,
    tmp_path: Path,
) -> None:
    token = sweep.env_value
    plan = write_plan(PLAN.format(url=echo["url"], secret=SECRET, python=sys.executable))
    failing = write_plan(FAILING.format(url=echo["url"], secret=SECRET), "failing.yaml")

    runs = [
        migrator("validate", plan, failing),
        migrator("plan", plan, "--to", "after"),
        migrator("plan", plan, "--to", "after", "--output", "json"),
        migrator("apply", plan, "--to", "after", "--yes", "--log-format", "json"),
    ]
    assert runs[-1].code == 0, runs[-1].out + runs[-1].err
    runs += [
        migrator("status", plan),
        migrator("status", plan, "--output", "json"),
        migrator("history", plan),
        migrator("history", plan, "--output", "json"),
        migrator("graph", plan),
        migrator("docs", plan, dsn=False),
        migrator("docs", plan, "--output", "html", "--out", str(tmp_path / "docs"), dsn=False),
        migrator("audit", "rls"),
        migrator("rollback", plan, "--output", "json"),
        migrator("apply", plan, "--to", "after", "--yes", "--output", "json"),
        migrator("rehearse", plan, "--scratch-dsn", admin_dsn, *fitting_pg_dump(admin_dsn)),
        migrator("apply", failing, "--log-format", "json"),
    ]
    assert runs[-1].code == 1, runs[-1].out + runs[-1].err  # the 500 undid the hotfix
    run_ids = [r[0] for r in sql("select id from migrator.runs order by id")]
    runs += [migrator("report", str(i)) for i in run_ids]
    runs += [migrator("report", str(run_ids[-1]), "--output", "json")]
    # The same, as a real process: a DSN password and the token in its environment.
    done = subprocess.run(
        [sys.executable, "-m", "migrator", "status", str(plan), "--dsn", database],
        capture_output=True,
        text=True,
        timeout=60,
    )

    # The secrets did travel: the endpoint received the token in every request.
    assert f"Bearer {token}" in echo["authorizations"]
    assert set(echo["authorizations"]) == {f"Bearer {token}"}
    assert {"token": token} in [json.loads(b) for b in echo["bodies"] if b]
    assert all(r.code in (0, 1) for r in runs), [(r.code, r.err) for r in runs]
    # ... and stayed there.
    for r in runs:
        for secret in (token, sweep.password):
            assert secret not in r.out and secret not in r.err, r.out + r.err
    assert token not in done.stdout + done.stderr and sweep.password not in done.stdout
    for (text,) in sql("select t::text from migrator.events t union all "
                       "select t::text from migrator.runs t"):  # fmt: skip
        assert token not in text and sweep.password not in text
    for path in (tmp_path / "docs").iterdir():
        assert token not in path.read_text()
    assert "***" in "".join(r.out for r in runs)  # the masked values are shown masked


def test_the_sweep_finds_a_secret_and_masks_it_in_its_report(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    own = SecretsSweep(request.config)  # not the session's: its sightings fail nothing
    own.current = "a test"
    own.check(f"line one\nconnect to postgresql://u:{own.password}@/db\n", "stdout")
    own.check(f"token={own.env_value}".encode(), "a log")
    own.check("nothing to see", "stderr")
    (tmp_path / "report.md").write_text(f"# report\n{own.env_value}\n")
    own.check_tree(tmp_path)
    assert list(own.found) == [
        "a test: the DSN password in stdout: connect to postgresql://u:<the DSN password>@/db",
        f"a test: {SECRET} in a log: token=<{SECRET}>",
        f"a test: {SECRET} in file {tmp_path / 'report.md'}: <{SECRET}>",
    ]
    assert with_password("postgresql://postgres:@/x?host=/tmp/s", "pw") == (
        "postgresql://postgres:pw@/x?host=/tmp/s"
    )
