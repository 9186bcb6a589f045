"""The metrics plugin's `--pushgateway`: a push per batch and at the end, to a real HTTP
server standing in for the gateway; a gateway that is down, answers 500 or hangs never
changes the run's exit code nor holds it, and is one warning in the trail. And the options
through the real command line: a path or URL it cannot use refused with exit 2 before
anything runs."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any

import pytest
from psycopg.conninfo import conninfo_to_dict

import migrator as migrator_pkg
import migrator_metrics.outlets
from migrator import api
from migrator.errors import MigratorError
from migrator.plugin import ProgressReport
from tests.httpserver import running
from tests.metrics import context, read, samples, value
from tests.plans import backfill_plan, phased
from tests.processes import spawn

GROUP = "/metrics/job/migrator/plan/fill"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")


def _backfill(sql: Any, write_plan: Any) -> Path:
    sql("create table src (id int primary key, v int); create table dst (id int, v int)")
    sql("insert into src select g, g from generate_series(1, 20000) g")
    return Path(write_plan(backfill_plan(batch_size=2500)))


def _warnings(sql: Any) -> list[str]:
    rows = sql("select detail->>'detail' from migrator.events where kind = 'hook' order by id")
    return [str(r[0]) for r in rows]


def test_a_push_per_batch_and_at_the_end(write_plan: Any, database: str, sql: Any) -> None:
    plan = _backfill(sql, write_plan)
    with running() as gateway:
        gateway.route(GROUP, 200)
        assert api.apply(context(database, pushgateway=gateway.url), plan, "full") == 0
    puts = gateway.requests_to(GROUP)
    assert puts and {r.method for r in puts} == {"PUT"}
    assert all(r.headers["Content-Type"].startswith("text/plain; version=0.0.4") for r in puts)
    walked = [
        value(r.body.decode(), "migrator_backfill_rows_walked_total", plan="fill", step="copy")
        for r in puts
    ]
    batches = [w for w in walked if w is not None]
    assert [2500.0 * n for n in range(1, 9)] == sorted(set(batches))
    last = puts[-1].body.decode()
    assert value(last, "migrator_command_exit_code", plan="fill", command="apply") == 0
    assert value(last, "migrator_runs_total", plan="fill", outcome="succeeded") == 1
    assert _warnings(sql) == []


@pytest.mark.parametrize("broken", ["down", "answers 500", "redirects"])
def test_a_broken_gateway_is_one_warning(
    write_plan: Any, database: str, sql: Any, broken: str
) -> None:
    plan = _backfill(sql, write_plan)
    if broken == "down":
        with socket.socket() as closed:  # a port nobody listens on
            closed.bind(("127.0.0.1", 0))
            url = f"http://127.0.0.1:{closed.getsockname()[1]}"
        assert api.apply(context(database, pushgateway=url), plan, "full") == 0
        expected = "could not be reached"
    else:
        with running() as gateway:
            gateway.route(GROUP, 500 if broken == "answers 500" else 307)
            assert api.apply(context(database, pushgateway=gateway.url), plan, "full") == 0
        expected = "answered 500" if broken == "answers 500" else "answered 307 (a redirect,"
    [warning] = _warnings(sql)
    assert warning.startswith("the pushgateway at http://127.0.0.1:") and expected in warning
    assert sql("select count(*) from dst") == [(20000,)]


def test_a_hanging_gateway_never_holds_the_run(
    write_plan: Any, database: str, sql: Any, tmp_path: Path
) -> None:
    plan = _backfill(sql, write_plan)
    path = tmp_path / "m.prom"
    release = threading.Event()
    with running() as gateway:
        route = gateway.route(GROUP, 200, hold=release)
        try:
            ctx = context(database, pushgateway=gateway.url, metrics_file=str(path))
            assert api.apply(ctx, plan, "full") == 0
            assert not route.answered.is_set()  # the run ended while the gateway held on
        finally:
            release.set()
    told = ctx.out.getvalue() + ctx.err.getvalue()  # type: ignore[attr-defined]
    assert "the pushgateway at http://127.0.0.1:" in told and "did not answer" in told, told
    assert "succeeded" in [r[0] for r in sql("select status from migrator.runs")]
    text = read(path)  # the file went on regardless
    assert value(text, "migrator_backfill_rows_walked_total", plan="fill", step="copy") == 20000
    assert value(text, "migrator_command_exit_code", plan="fill", command="apply") == 0


class ReleasesAtTheEnd:
    """Lets the held gateway answer once the backfill told its last batch, noting whether
    it still held its first answer then."""

    def __init__(self, release: threading.Event, answered: threading.Event) -> None:
        self.release, self.answered = release, answered
        self.held_through: bool | None = None

    @migrator_pkg.hookimpl(trylast=True)
    def migrator_progress(self, progress: ProgressReport) -> None:
        if progress.finished:
            self.held_through = not self.answered.is_set()
            self.release.set()


def test_a_slow_gateway_never_holds_the_batches(
    write_plan: Any, database: str, sql: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A gateway that answers within its timeout, but slowly: the run is not held by it
    (only the command's end waits for the last push), and the pushes held back meanwhile
    are coalesced into the newest."""
    monkeypatch.setattr(migrator_metrics.outlets, "TIMEOUT", 30.0)  # slow, never too slow
    plan = _backfill(sql, write_plan)
    release = threading.Event()
    with running() as gateway:
        route = gateway.route(GROUP, 200, hold=release)
        watcher = ReleasesAtTheEnd(release, route.answered)
        try:
            ctx = context(database, watcher, pushgateway=gateway.url)
            assert api.apply(ctx, plan, "full") == 0
        finally:
            release.set()
    assert watcher.held_through is True  # every batch went while the gateway held on
    assert _warnings(sql) == []  # and its pushes all went through in the end
    puts = gateway.requests_to(GROUP)
    assert 1 < len(puts) < 8  # the eight batches' figures coalesced: the newest only
    last = puts[-1].body.decode()
    assert value(last, "migrator_command_exit_code", plan="fill", command="apply") == 0
    assert value(last, "migrator_backfill_batches_total", plan="fill", step="copy") == 8


def test_secrets_never_reach_the_pushed_body(
    write_plan: Any, database: str, sql: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `${env:...}` value read by a check (its URL: a string migrator interpolates) and
    the gateway's password are secrets: a step whose name holds them (plan text, not
    interpolated) is pushed with the name masked."""
    monkeypatch.setenv("PUSH_TOKEN", "tok-pushed-secret-7")
    steps = ["{name: step tok-pushed-secret-7, sql: select 1}", "{name: gw-pass-31, sql: select 1}"]
    with running() as gateway:
        gateway.route("/metrics/job/migrator/plan/p", 200)
        gateway.route("/hook/tok-pushed-secret-7", 200)
        check = f'{{name: api, http: {{url: "{gateway.url}/hook/${{env:PUSH_TOKEN}}"}}, '
        plan = write_plan(phased("p", steps, pre_checks=[check + "expect: {status: 200}}"]))
        url = gateway.url.replace("http://", "http://ops:gw-pass-31@")
        assert api.apply(context(database, pushgateway=url), plan, "b") == 0
    assert gateway.requests_to("/hook/tok-pushed-secret-7")  # the check read the secret
    puts = gateway.requests_to("/metrics/job/migrator/plan/p")
    assert puts
    password = str(conninfo_to_dict(database)["password"])
    for put in puts:
        body = put.body.decode()
        assert "tok-pushed-secret-7" not in body and "gw-pass-31" not in body
        assert password not in body
        assert put.headers["Authorization"].startswith("Basic ")
        samples(body)  # parses
    last = puts[-1].body.decode()
    assert value(last, "migrator_step_duration_seconds", plan="p", step="step ***") is not None
    assert value(last, "migrator_step_duration_seconds", plan="p", step="***") is not None


def test_the_command_line_takes_the_options_and_refuses_what_it_cannot_use(
    write_plan: Any, database: str, sql: Any, tmp_path: Path
) -> None:
    plan = write_plan(phased("cli", ["{sql: create table made (x int)}"]))
    for option, given, said in [
        ("--metrics-file", "/nonexistent/x.prom", "does not exist"),
        ("--pushgateway", "ftp://gateway:21", "not an http:// or https:// URL"),
    ]:
        proc = spawn("apply", plan, "--to", "b", "--dsn", database, option, given)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 2, out + err
        assert said in out + err
        assert sql("select to_regclass('made')") == [(None,)]
    path = tmp_path / "cli.prom"
    env = {"MIGRATOR_METRICS_FILE": str(path)}
    proc = spawn("apply", plan, "--to", "b", "--dsn", database, env=env)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    text = read(path)
    assert value(text, "migrator_steps_total", plan="cli", outcome="done") == 1
    assert value(text, "migrator_command_exit_code", plan="cli", command="apply") == 0


def test_a_path_it_cannot_write_is_refused(
    migrator: Any, write_plan: Any, sql: Any, tmp_path: Path
) -> None:
    plan = write_plan(phased("nowhere", ["{sql: create table made (x int)}"]))
    (tmp_path / "a-file").write_text("")
    for given, said in [
        (tmp_path / "a-file" / "m.prom", "does not exist"),  # its folder is a file
        (tmp_path, "a folder, not a file"),
    ]:
        result = migrator("apply", plan, "--to", "b", "--metrics-file", given)
        assert result.code == 2 and said in result.out + result.err
        assert sql("select to_regclass('made')") == [(None,)]


def test_the_help_shows_the_options_with_their_variables(migrator: Any) -> None:
    result = migrator("apply", "--help", dsn=False)
    assert result.code == 0
    text = " ".join(result.out.split())
    assert "--metrics-file PATH" in text and "--pushgateway URL" in text
    assert "[env var: MIGRATOR_METRICS_FILE]" in text
    assert "(metrics_file)" not in text  # the parameter's name is no default


def _code(command: Any, *args: Any) -> int:
    """The exit code of an api command, as the command line would end with it."""
    try:
        return int(command(*args))
    except MigratorError as failure:
        return int(failure.exit_code)


def test_a_command_that_runs_nothing_leaves_the_figures_as_they_were(
    write_plan: Any, database: str, sql: Any, tmp_path: Path
) -> None:
    """A run left undo_failed stays so in the file and at the gateway when the next apply
    is refused (exit 3), lacks its target (exit 2) or cannot reach the database (exit 5):
    only a command that starts a run writes or pushes."""
    plan = write_plan(
        phased(
            "fill",
            ["{name: fine, sql: select 1, rollback: {sql: select 1/0}}", "{sql: select 1/0}"],
        )
    )
    path = tmp_path / "l.prom"
    with running() as gateway:
        gateway.route(GROUP, 200)
        options = {"metrics_file": str(path), "pushgateway": gateway.url}
        assert api.apply(context(database, **options), plan, "b") == 3
        before, pushed = path.read_bytes(), len(gateway.requests_to(GROUP))
        assert value(before.decode(), "migrator_run_status", plan="fill", status="undo_failed")
        assert pushed > 0
        assert _code(api.apply, context(database, **options), plan, "b") == 3  # settle first
        assert _code(api.apply, context(database, **options), plan, None) == 2  # no --to
        with socket.socket() as closed:
            closed.bind(("127.0.0.1", 0))
            nowhere = f"postgresql://u:p@127.0.0.1:{closed.getsockname()[1]}/db"
        assert _code(api.apply, context(nowhere, **options), plan, "b") == 5
        assert path.read_bytes() == before
        assert len(gateway.requests_to(GROUP)) == pushed
    unwritten = tmp_path / "never.prom"
    assert _code(api.apply, context(nowhere, metrics_file=str(unwritten)), plan, "b") == 5
    assert not unwritten.exists() and list(tmp_path.glob("*.tmp")) == []


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("http://u:LongPassw0rd@gateway:notaport", "http://gateway: its port is not a number"),
        ("http://u:LongPassw0rd@gateway:99999", "http://gateway: its port is not a number"),
        ("http://u:LongPassw0rd@[::1", "not a URL"),
        ("ftp://u:LongPassw0rd@gateway:21", "not an http:// or https:// URL"),
        ("http://gateway:9091/?api_key=LongPassw0rd", "no query string"),
    ],
)
def test_a_pushgateway_url_it_cannot_use_is_refused_without_its_secrets(
    migrator: Any,
    write_plan: Any,
    sql: Any,
    monkeypatch: pytest.MonkeyPatch,
    given: str,
    said: str,
) -> None:
    plan = write_plan(phased("bad", ["{sql: create table made (x int)}"]))
    result = migrator("apply", plan, "--to", "b", "--pushgateway", given)
    told = result.out + result.err
    assert result.code == 2 and said in told, told
    assert "LongPassw0rd" not in told
    monkeypatch.setenv("MIGRATOR_PUSHGATEWAY", given)
    result = migrator("apply", plan, "--to", "b")
    told = result.out + result.err
    assert result.code == 2 and said in told and "LongPassw0rd" not in told, told
    assert sql("select to_regclass('made')") == [(None,)]


def test_a_token_as_the_user_name_is_never_shown(write_plan: Any, database: str, sql: Any) -> None:
    plan = write_plan(phased("p", ["{sql: select 1}"]))
    with running() as gateway:
        gateway.route("/metrics/job/migrator/plan/p", 401)
        url = gateway.url.replace("http://", "http://s3cr3tTokenUser@")
        ctx = context(database, pushgateway=url)
        assert api.apply(ctx, plan, "b") == 0
    puts = gateway.requests_to("/metrics/job/migrator/plan/p")
    assert puts and puts[0].headers["Authorization"].startswith("Basic ")
    told = ctx.out.getvalue() + ctx.err.getvalue()  # type: ignore[attr-defined]
    [warning] = _warnings(sql)
    assert warning == f"the pushgateway at {gateway.url} answered 401: metrics not pushed"
    trail = " ".join(str(r) for r in sql("select detail from migrator.events"))
    assert "s3cr3tTokenUser" not in told + trail
