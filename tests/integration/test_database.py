"""Connecting: the DSN's sources in order, the embedded server, unreachable databases."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from migrator.db.target import Target, connect_engine, redact, resolve_target, scrub
from migrator.errors import DatabaseUnreachable, ExitCode, UsageError


def test_a_fresh_database_is_empty_and_usable(database: str) -> None:
    with psycopg.connect(database) as conn:
        tables = conn.execute(
            "select count(*) from pg_tables"
            " where schemaname not in ('pg_catalog', 'information_schema')"
        ).fetchone()
    assert tables == (0,)


def test_connect_engine_reaches_the_test_database(database: str) -> None:
    from sqlalchemy import text

    engine = connect_engine(Target(database, "--dsn"))
    with engine.connect() as conn:
        assert conn.execute(text("select :x + 1"), {"x": 41}).scalar() == 42
    engine.dispose()


def test_the_option_wins_over_the_environment() -> None:
    env = {"MIGRATOR_DSN": "postgresql://a/b", "DATABASE_URL": "postgresql://c/d"}
    assert resolve_target("postgresql://x/y", env).source == "--dsn"
    assert resolve_target(None, env).dsn == "postgresql://a/b"
    assert resolve_target(None, {"DATABASE_URL": "postgresql://c/d"}).source == "DATABASE_URL"


def test_migrator_dsn_file_is_read_after_migrator_dsn_and_before_database_url(
    tmp_path: Path,
) -> None:
    """A container's mounted secret: the DSN read from the file, its line end dropped;
    an unreadable or empty file, or both variables, is exit 2, never the embedded server."""
    file = tmp_path / "acme"
    file.write_text("postgresql://u@h/acme\n", encoding="utf-8")
    env = {"MIGRATOR_DSN_FILE": str(file), "DATABASE_URL": "postgresql://c/d"}
    target = resolve_target(None, env)
    assert (target.dsn, target.source) == ("postgresql://u@h/acme", "MIGRATOR_DSN_FILE")
    assert resolve_target("postgresql://x/y", env).source == "--dsn"
    with pytest.raises(UsageError, match="both set"):
        resolve_target(None, {**env, "MIGRATOR_DSN": "postgresql://a/b"})
    with pytest.raises(UsageError, match=r"MIGRATOR_DSN_FILE .*missing: cannot read it"):
        resolve_target(None, {"MIGRATOR_DSN_FILE": str(tmp_path / "missing")})
    (tmp_path / "empty").write_text("\n", encoding="utf-8")
    with pytest.raises(UsageError, match="is empty") as raised:
        resolve_target(None, {"MIGRATOR_DSN_FILE": str(tmp_path / "empty")})
    assert raised.value.exit_code == ExitCode.INVALID


def test_unreachable_database_is_exit_5_without_the_password() -> None:
    target = Target("postgresql://ops:hunter2secret@127.0.0.1:1/prod", "--dsn")
    with pytest.raises(DatabaseUnreachable) as caught:
        connect_engine(target)
    assert caught.value.exit_code == ExitCode.UNREACHABLE == 5
    assert "hunter2secret" not in str(caught.value)
    assert "postgresql://ops:***@127.0.0.1:1/prod" in str(caught.value)


def test_wrong_password_is_reported_without_it(database: str) -> None:
    # The embedded server trusts local connections: prove scrubbing on a message that echoes it.
    target = Target("host=/nonexistent user=ops password='p@ss word'", "--dsn")
    assert "p@ss word" not in redact(target.dsn)
    assert scrub("failed for p@ss word", target) == "failed for ***"
    with pytest.raises(DatabaseUnreachable) as caught:
        connect_engine(target)
    assert "p@ss word" not in str(caught.value)


@pytest.mark.parametrize(
    ("dsn", "shown"),
    [
        ("postgresql://u:pw@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        (
            "postgresql://h/db?password=pw&sslmode=require",
            "postgresql://h/db?password=***&sslmode=require",
        ),
        ("host=h password=pw dbname=x", "host=h password=*** dbname=x"),
        ("host=h password='a b' dbname=x", "host=h password=*** dbname=x"),
    ],
)
def test_redact_hides_every_form_of_password(dsn: str, shown: str) -> None:
    assert redact(dsn) == shown
