"""A third-party plugin whose action and check declare `reaches_outside`: `migrator rehearse`
and the dry run (`migrator plan`) never call them, `migrator apply` does. The core knows
nothing of the plugin but its spec: it is installed at test time as pip would leave it (a
package and a dist-info with its entry point on sys.path), and calls a real HTTP server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.rehearsing import fitting_pg_dump
from tests.sites import installed_site

PLUGIN = '''\
"""migrator-pager: page the on-call through a webhook."""

from collections.abc import Callable
from typing import Any
from urllib.request import Request, urlopen

from pydantic import BaseModel

import migrator


class Page(BaseModel):
    url: str
    text: str


def _post(url: str, body: str) -> int:
    with urlopen(Request(url, data=body.encode(), method="POST"), timeout=10) as answer:
        return int(answer.status)


def run(ctx: migrator.StepContext, step: Any) -> dict[str, int]:
    return {"status": _post(step.page.url, step.page.text)}


def preview(ctx: migrator.StepContext, step: Any) -> str:
    return f"previewed: {_post(step.page.url, 'preview')}"


def describe(step: Any) -> str:
    return f"POST {step.page.url}: {step.page.text}"


def describe_check(check: Any) -> str:
    return f"POST {check.pager_answers.url}: {check.pager_answers.text}"


def evaluate(ctx: migrator.CheckContext, check: Any) -> migrator.CheckOutcome:
    status = _post(check.pager_answers.url, check.pager_answers.text)
    return migrator.CheckOutcome(status == 200, status, 200)


@migrator.hookimpl
def migrator_register_actions(register: Callable[[migrator.ActionSpec], None]) -> None:
    register(
        migrator.ActionSpec(
            key="page",
            config=Page,
            run=run,
            preview=preview,
            describe=describe,
            transactional=False,
            reaches_outside=True,
        )
    )


@migrator.hookimpl
def migrator_register_checks(register: Callable[[migrator.CheckSpec], None]) -> None:
    register(
        migrator.CheckSpec(
            key="pager_answers",
            config=Page,
            evaluate=evaluate,
            describe=describe_check,
            expect_required=False,
            accepts_expect=False,
            reaches_outside=True,
        )
    )
'''

PLAN = """\
plan: page-on-call
kind: hotfix
steps:
  - name: a table
    sql: create table paged (id int)
    rollback: {sql: drop table paged}
  - name: page the on-call
    page: {url: "URL/page", text: the table is there}
post_checks:
  - name: the pager answers
    pager_answers: {url: "URL/check", text: are you there}
"""


class Webhook:
    """An HTTP server on 127.0.0.1 that records every request it is sent."""

    def __init__(self) -> None:
        calls = self.calls = []  # type: list[tuple[str, str]]

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                calls.append((self.path, self.rfile.read(length).decode()))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    hook.thread.start()
    yield hook
    hook.server.shutdown()
    hook.server.server_close()
    hook.thread.join()


@pytest.fixture
def pager_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """migrator-pager 1.0, installed into a directory on sys.path as pip would leave it."""
    with installed_site(tmp_path / "site", monkeypatch) as site:
        site.install("migrator_pager", PLUGIN, {"pager": "migrator_pager"}, version="1.0")
        yield


def test_rehearse_and_plan_never_call_an_outside_plugin_and_apply_does(
    pager_plugin: None,
    webhook: Webhook,
    migrator: Any,
    write_plan: Any,
    sql: Any,
    admin_dsn: str,
) -> None:
    plan = write_plan(PLAN.replace("URL", webhook.url), "page.yaml")
    assert "pager (migrator-pager 1.0)" in migrator("plugins").out

    rehearsed = migrator("rehearse", plan, "--scratch-dsn", admin_dsn, *fitting_pg_dump(admin_dsn))

    assert rehearsed.code == 0, rehearsed.out + rehearsed.err
    assert (
        "not called on a rehearsal (they reach outside the database): step 'page the on-call' "
        "(page); post-check 'the pager answers' (pager_answers)"
    ) in rehearsed.out
    assert webhook.calls == []

    planned = migrator("plan", plan)

    assert planned.code == 0, planned.out + planned.err
    assert "previewed" not in planned.out
    assert webhook.calls == []
    assert sql("select count(*) from pg_tables where tablename = 'paged'") == [(0,)]

    applied = migrator("apply", plan)

    assert applied.code == 0, applied.out + applied.err
    assert webhook.calls == [("/page", "the table is there"), ("/check", "are you there")]
    assert sql("select count(*) from pg_tables where tablename = 'paged'") == [(1,)]
