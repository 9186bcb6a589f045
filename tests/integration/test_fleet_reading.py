"""`fleet status` and `fleet plan` against hostile values: secrets that are key words,
markup and escape sequences read from a target or the ledger, hostile targets queries and
files (real databases on the test server, the command line in process)."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import psycopg
import pytest

from tests.fleet_records import (
    FAST_RETRY,
    TWO_WAVES,
    apply_by_hand,
    execute,
    ledger_of,
    record_rollout,
    write_shop,
)
from tests.fleets import FleetDatabases, env_name, fleet_databases, fleet_env  # noqa: F401
from tests.helpers import run_cli
from tests.processes import spawn, wait_for
from tests.secrets_sweep import with_password
from tests.terminal import in_terminal


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    return write_shop(tmp_path)


def test_status_with_a_password_that_is_a_key_word_and_hostile_values_read_back(
    fleet_databases: FleetDatabases,  # noqa: F811
    shop: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fleet_file = fleet_databases.write(
        {"internal": "canary", "acme": None}, waves=TWO_WAVES, extra=FAST_RETRY
    )
    # the test server trusts its socket: the password is ignored, but it is a secret
    monkeypatch.setenv(env_name("acme"), with_password(fleet_databases.dsns["acme"], "phase"))
    record_rollout(fleet_databases, fleet_file, shop, {"internal": "canary"})
    apply_by_hand(fleet_databases, shop, "acme")
    execute(fleet_databases, "acme", "update migrator.runs set transition = 'go[/]'")
    ledger = ledger_of(fleet_file)
    document = ledger.load()
    document.rollouts[-1].operator = "x\x1b[2Jforged"
    ledger.save(document)

    code, out, err = run_cli(capsys, "fleet", "status", fleet_file, shop)
    assert code == 0, err
    assert "go[/]" in out  # read back as text, not markup
    assert "x\\x1b[2Jforged" in out  # the escape made visible
    assert "\x1b" not in out


def test_status_json_is_masked(
    fleet_databases: FleetDatabases,  # noqa: F811
    shop: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fleet_file = fleet_databases.write({"acme": None}, extra=FAST_RETRY)
    monkeypatch.setenv(env_name("acme"), with_password(fleet_databases.dsns["acme"], "hush42"))
    execute(fleet_databases, "acme", "create schema hush42")  # a value holding the secret
    code, out, err = run_cli(capsys, "fleet", "status", fleet_file, shop, "--output", "json")
    assert code == 0, err
    assert "hush42" not in out + err


def test_an_environment_dsn_is_masked_in_the_form_a_child_rewrites_it(
    fleet_databases: FleetDatabases,  # noqa: F811
    shop: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fleet_file = fleet_databases.write({"acme": None}, extra=FAST_RETRY)
    monkeypatch.setenv(
        env_name("acme"),
        "postgresql://envuser@/x?host=/nonexist&password=pw12&options=-c%20app.token%3Dtok123",
    )
    code, out, err = run_cli(capsys, "fleet", "plan", fleet_file, shop, "--to", "expanded")
    assert code == 5, out + err
    assert "acme" in out
    assert "tok123" not in out + err
    code, out, err = run_cli(
        capsys, "fleet", "plan", fleet_file, shop, "--to", "expanded", "--output", "json"
    )
    assert code == 5, out + err
    assert "tok123" not in out + err


def test_a_targets_query_of_several_statements_is_refused_at_the_second(
    fleet_databases: FleetDatabases,  # noqa: F811
    shop: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fleet_databases.add("control")
    execute(fleet_databases, "control", "create table tenants (name text, dsn text)")
    execute(fleet_databases, "control", "create table pwned (id int)")
    fleet_file = fleet_databases.folder / "fleet.yaml"
    fleet_file.write_text(
        "fleet: tenants\n"
        "targets:\n"
        "  query: |\n"
        "    select name, dsn from tenants where name like 'a%';\n"
        "      commit; drop table pwned; select pg_sleep(40)\n"
        f'  dsn: "${{env:{env_name("control")}}}"\n',
        encoding="utf-8",
    )
    code, out, err = run_cli(capsys, "fleet", "status", fleet_file, shop)
    assert code == 2, out + err
    assert f"{fleet_file}:5:7: the targets query is one statement" in err
    assert fleet_databases.sql("control", "select to_regclass('pwned') is not null") == [(True,)]

    fleet_file.write_text(
        "fleet: tenants\n"
        "targets:\n"
        "  query: \"select name, dsn from tenants where name like 'a%' -- one; two\"\n"
        f'  dsn: "${{env:{env_name("control")}}}"\n',
        encoding="utf-8",
    )
    code, out, err = run_cli(capsys, "fleet", "status", fleet_file, shop)
    assert code == 0, out + err  # one statement, a literal % and a ; in a comment: no target


# -- fleet plan: no retries, a bound per target, Ctrl-C --------------------------------------


def test_plan_stops_a_target_that_does_not_answer_and_tries_nothing_again(
    fleet_databases: FleetDatabases,  # noqa: F811
    shop: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fleet_file = fleet_databases.write(
        {"acme": None, "globex": None, "ghost": None},
        waves="  - {name: all, parallel: 3}\n",
        extra="retry: {attempts: 5, backoff: 1h}\n",
    )
    apply_by_hand(fleet_databases, shop, "acme")
    monkeypatch.setenv(env_name("ghost"), "postgresql://nobody@/x?host=/nonexist")
    with psycopg.connect(fleet_databases.dsns["acme"]) as holder:
        holder.execute("lock table migrator.plan_state in access exclusive mode")
        code, out, err = run_cli(
            capsys, "fleet", "plan", fleet_file, shop, "--to", "expanded",
            "--timeout", "3", "--output", "json",
        )  # fmt: skip
        holder.rollback()
    assert code == 5, err
    targets = {t["name"]: t for t in json.loads(out)["targets"]}
    assert targets["acme"]["exit_code"] == 5
    assert targets["acme"]["message"] == "did not answer within 3 s (stopped)"
    assert targets["globex"]["exit_code"] == 0 and targets["globex"]["phase"] == "initial"
    assert targets["ghost"]["exit_code"] == 5 and targets["ghost"]["attempts"] == 1


def test_one_ctrl_c_stops_fleet_plan_and_its_dry_runs(
    fleet_databases: FleetDatabases,  # noqa: F811
    shop: Path,
) -> None:
    fleet_file = fleet_databases.write({"acme": None, "globex": None})
    apply_by_hand(fleet_databases, shop, "acme")
    with psycopg.connect(fleet_databases.dsns["acme"]) as holder:
        holder.execute("lock table migrator.plan_state in access exclusive mode")
        proc = spawn("fleet", "plan", fleet_file, shop, "--to", "expanded", env=fleet_env())

        def waiting() -> bool:
            rows = holder.execute(
                "select count(*) from pg_locks where not granted and database = "
                "(select oid from pg_database where datname = current_database())"
            ).fetchone()
            return rows is not None and rows[0] > 0

        wait_for(waiting, proc=proc)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=50)  # well before the 60 s bound
        holder.rollback()
    assert proc.returncode == 130, out + err
    assert "stopped by SIGINT" in out + err


def test_a_role_without_permission_on_schema_migrator_is_named_as_such(
    fleet_databases: FleetDatabases,  # noqa: F811
    shop: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fleet_file = fleet_databases.write({"acme": None}, extra=FAST_RETRY)
    apply_by_hand(fleet_databases, shop, "acme")
    execute(fleet_databases, "acme", "drop role if exists fleet_reader")
    execute(fleet_databases, "acme", "create role fleet_reader login")
    dsn = fleet_databases.dsns["acme"]
    scheme, _, rest = dsn.partition("://")
    monkeypatch.setenv(env_name("acme"), f"{scheme}://fleet_reader@{rest.partition('@')[2]}")
    try:
        code, out, err = run_cli(capsys, "fleet", "status", fleet_file, shop)
        assert code == 5, out + err
        assert "no permission" in out and "unreachable" not in out
        assert "permission denied for schema migrator" in out
        code, out, err = run_cli(capsys, "fleet", "plan", fleet_file, shop, "--to", "expanded")
        assert code == 2, out + err  # the target's migrator plan: exit 2, its own words
        assert "a bug" not in out + err and "sqlalche.me" not in out + err
        assert "permission denied for schema migrator" in out
    finally:
        monkeypatch.setenv(env_name("acme"), dsn)
        execute(fleet_databases, "acme", "drop owned by fleet_reader")
        execute(fleet_databases, "acme", "drop role fleet_reader")


def test_status_lists_a_target_the_rollout_moved_that_is_gone_from_the_fleet_file(
    fleet_databases: FleetDatabases,  # noqa: F811
    shop: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fleet_file = fleet_databases.write(
        {"internal": "canary", "acme": None}, waves=TWO_WAVES, extra=FAST_RETRY
    )
    record_rollout(fleet_databases, fleet_file, shop, {"internal": "canary", "acme": "rest"})
    fleet_databases.write({"internal": "canary"}, waves=TWO_WAVES, extra=FAST_RETRY)
    code, out, err = run_cli(capsys, "fleet", "status", fleet_file, shop, "--output", "json")
    assert code == 0, err  # every target of the fleet file was read
    gone = {t["name"]: t for t in json.loads(out)["targets"]}["acme"]
    assert gone["in_fleet"] is False and gone["ledger_state"] == "moved"
    assert gone["error"] == "not in the fleet file any more"
    code, out, err = run_cli(capsys, "fleet", "status", fleet_file, shop)
    assert code == 0, err
    assert "target acme could not be read: not in the fleet file any more" in " ".join(out.split())


# -- on a terminal ---------------------------------------------------------------------------

MIGRATOR = [sys.executable, "-m", "migrator"]
LONG = "tenant-with-a-rather-long-name-for-the-acme-corporation"


@pytest.mark.parametrize("columns", [40, 80])
def test_status_and_plan_fit_the_terminal_without_breaking_words(
    fleet_databases: FleetDatabases,  # noqa: F811
    shop: Path,
    monkeypatch: pytest.MonkeyPatch,
    columns: int,
) -> None:
    fleet_file = fleet_databases.write(
        {"internal": "canary", LONG: None, "ghost": None}, waves=TWO_WAVES, extra=FAST_RETRY
    )
    monkeypatch.setenv(env_name("ghost"), "postgresql://nobody@/x?host=/nonexist")
    apply_by_hand(fleet_databases, shop, LONG)
    status = in_terminal(
        [*MIGRATOR, "fleet", "status", fleet_file, shop], columns=columns, cwd=shop.parent
    )
    shown = "\n".join(status.screen.lines)
    assert status.code == 5, shown
    assert not status.too_wide(), shown
    words = shown.split()
    assert "unreachable" in words, shown  # never broken mid-word
    assert not {"unreach", "able", "succeed", "ed", "expande", "d"} & set(words), shown
    folded = [line for line in status.screen.lines[2:5] if not line.startswith(("int", "gh"))]
    assert len(folded) <= 3, shown  # the long name in a few rows, not one a column
    plan = in_terminal(
        [*MIGRATOR, "fleet", "plan", fleet_file, shop, "--to", "expanded"],
        columns=columns,
        cwd=shop.parent,
    )
    shown = "\n".join(plan.screen.lines)
    assert plan.code == 5, shown
    assert not plan.too_wide(), shown
