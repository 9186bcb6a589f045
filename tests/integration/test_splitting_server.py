"""The SQL splitter against the server: every case of tests/splitting.sql is split by
migrator, and each piece sent on its own with the extended protocol (psycopg's
`prepare=True`), where a piece holding two statements fails ("cannot insert multiple
commands into a prepared statement"). In order, in one transaction rolled back at the
end, every piece must run: the split is right (no piece holds two statements, none
holds half of one) and complete (nothing is left out: the pieces joined are the text).

Run on the server of the test session (PostgreSQL 18 by default; BEGIN ATOMIC bodies
exist from 14 on, so the corpus is written for 14 and later)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from migrator.db.sqltext import split, statements
from tests.helpers import fresh_database
from tests.splitting import VARIABLES, Case, cases


@pytest.fixture(scope="module")
def target(admin_dsn: str, request: pytest.FixtureRequest) -> Iterator[str]:
    with fresh_database(admin_dsn, request.config) as dsn:
        yield dsn


def _run(dsn: str, pieces: list[str]) -> None:
    """Send each piece alone with the extended protocol, in one transaction rolled back."""
    with psycopg.connect(dsn) as conn:
        try:
            for piece in pieces:
                (statement,) = statements(piece)
                conn.execute(statement.driver_sql, statement.bind(VARIABLES), prepare=True)
        finally:
            conn.rollback()


@pytest.mark.parametrize("case", cases(), ids=lambda c: c.name)
def test_each_piece_is_one_whole_statement_the_server_runs(target: str, case: Case) -> None:
    pieces = split(case.sql)
    assert "".join(pieces) == case.sql
    sent = [p for p in pieces if statements(p)]
    assert len(sent) == len(statements(case.sql)) == case.statements, sent
    _run(target, sent)


def test_a_piece_holding_two_statements_would_fail(target: str) -> None:
    """The test's premise: the server refuses a piece that is two statements."""
    with pytest.raises(psycopg.errors.SyntaxError, match="multiple commands"):
        _run_raw(target, "select 1; select 2")


def test_cutting_at_every_semicolon_sends_a_broken_function(target: str) -> None:
    """And its teeth: cut at every `;`, as migrator did, a BEGIN ATOMIC body fails."""
    (case,) = [c for c in cases() if "CASE ... END inside" in c.name]
    naive = [p + ";" for p in case.sql.split(";") if p.strip()]
    with pytest.raises(psycopg.errors.SyntaxError):
        _run(target, naive)


def _run_raw(dsn: str, sql: str) -> None:
    with psycopg.connect(dsn) as conn:
        try:
            conn.execute(sql, prepare=True)
        finally:
            conn.rollback()
