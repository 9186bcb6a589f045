"""DSNs: the password never shown, whatever the form; one that cannot be parsed never
echoed, not even in part; `--dsn` with a password warns."""

from __future__ import annotations

from typing import Any

import pytest

from migrator.db.target import Target, dsn_problem, redact, scrub
from migrator.testing import database_dsn

# (DSN, the password as a person meant it): forms libpq or migrator cannot parse.
UNPARSEABLE = [
    ("postgresql://ops:p@ss#Word@db.example/prod", "p@ss#Word"),
    ("password=Hunter2 Secret host=db.example", "Hunter2 Secret"),
    ("host=db.example password='Hunter2 opensesame", "Hunter2 opensesame"),
    ("postgresql://ops:pw%zzHunter2@db.example/prod", "pw%zzHunter2"),
    ("postgresql://ops:Hunter2 Secret@db.example/prod", "Hunter2 Secret"),
    ("postgresql://ops:Hunter2Secret@[::1/prod", "Hunter2Secret"),
    ("postgresql://ops:Hun/ter2Secret@db.example/prod", "Hun/ter2Secret"),
    ("postgresql://db.example/prod?password=Hunter2 Secret", "Hunter2 Secret"),
]

# (DSN, the password libpq reads, the DSN as shown)
PARSEABLE = [
    ("postgresql://ops:Hunter2@db.example/prod", "Hunter2", "postgresql://ops:***@db.example/prod"),
    ("postgresql://ops:pa#s?s@db/prod", "pa#s?s", "postgresql://ops:***@db/prod"),
    ("postgresql://ops:p%40ss@db/prod", "p@ss", "postgresql://ops:***@db/prod"),
    ("postgresql://db/prod?password=x%20yz", "x yz", "postgresql://db/prod?password=***"),
    ("host=db password='Hunter2 Secret'", "Hunter2 Secret", "host=db password=***"),
    ("host=db password=Hunter2\\ Secret", "Hunter2 Secret", "host=db password=***"),
    ("host=db password = Hunter2 port=5", "Hunter2", "host=db password = *** port=5"),
    ("postgresql://ops@db/prod", None, "postgresql://ops@db/prod"),
]


def pieces(secret: str, text: str, size: int = 6) -> list[str]:
    return [
        secret[i : i + size] for i in range(len(secret) - size + 1) if secret[i : i + size] in text
    ]


@pytest.mark.parametrize(("dsn", "password"), UNPARSEABLE)
def test_a_dsn_that_cannot_be_parsed_is_never_shown(dsn: str, password: str) -> None:
    target = Target(dsn, "--dsn")
    problem = dsn_problem(dsn)
    assert problem is not None
    assert target.shown == "the DSN given by --dsn (unparseable)"
    for text in (problem, target.shown, redact(dsn)):
        assert pieces(password, text) == [], text
        assert "db.example" not in text  # no part of the DSN at all
    assert scrub(f"error near {password}", target) == "error near ***"


@pytest.mark.parametrize(("dsn", "password", "shown"), PARSEABLE)
def test_a_parseable_dsn_is_shown_without_its_password(
    dsn: str, password: str | None, shown: str
) -> None:
    target = Target(dsn, "--dsn")
    assert dsn_problem(dsn) is None
    assert target.password == password
    assert target.shown == shown
    if password:
        assert scrub(f"auth failed for {password}", target) == "auth failed for ***"


def test_libpq_words_are_kept_and_its_quotes_of_the_dsn_left_out() -> None:
    assert dsn_problem("password=Hunter2 Secret host=x") == (
        'missing "=" after "…" in connection info string'
    )
    assert dsn_problem("host=x Hunter2=1") == 'invalid connection option "…"'


def test_database_dsn_keeps_every_form() -> None:
    assert database_dsn("postgresql://u:pw@/x?host=/tmp/s", "t_1") == (
        "postgresql://u:pw@/t_1?host=/tmp/s"
    )
    assert database_dsn("postgresql://u@host", "t_1") == "postgresql://u@host/t_1"
    from psycopg.conninfo import conninfo_to_dict

    assert conninfo_to_dict(database_dsn("host=/tmp/s dbname=x password='a b'", "t_1")) == {
        "host": "/tmp/s",
        "dbname": "t_1",
        "password": "a b",
    }


@pytest.mark.parametrize(
    ("dsn", "warned"),
    [
        ("postgresql://ops:Hunter2@127.0.0.1:1/prod", True),
        ("host=127.0.0.1 port=1 password='Hunter2 Secret'", True),
        ("password=Hunter2 Secret host=127.0.0.1", True),  # unparseable: warned all the same
        ("postgresql://ops@127.0.0.1:1/prod", False),
    ],
)
def test_a_password_on_the_command_line_warns_once_without_the_dsn(
    dsn: str, warned: bool, capsys: pytest.CaptureFixture[str], tmp_path: object
) -> None:
    from migrator.cli import main

    code = main(["status", "no-such-plan.yaml", "--dsn", dsn])
    err = capsys.readouterr().err
    assert code == 2  # the plan is missing: the warning comes first all the same
    lines = [line for line in err.splitlines() if "--dsn carries a password" in line]
    assert len(lines) == (1 if warned else 0), err
    assert "MIGRATOR_DSN" in "".join(lines) or not warned
    assert "Hunter2" not in err


@pytest.mark.parametrize(
    ("options", "where"),
    [
        ([], "err"),
        (["--log-format", "json"], "out"),  # stderr carries JSON lines only
        (["--log-format", "json", "--output", "json"], None),  # both carry JSON
    ],
)
def test_the_warning_goes_where_people_read(
    options: list[str], where: str | None, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    from migrator.cli import main

    plan = tmp_path / "p.yaml"
    plan.write_text("plan: p\nkind: hotfix\nsteps: [{sql: select 1}]\n")
    dsn = "postgresql://ops:Hunter2@127.0.0.1:1/prod"
    assert main(["apply", str(plan), "--dsn", dsn, *options]) == 5  # nothing listens there
    captured = capsys.readouterr()
    said = {"out": captured.out, "err": captured.err}
    for stream, text in said.items():
        assert ("--dsn carries a password" in text) == (stream == where), said
        assert "Hunter2" not in text
