"""Which pg_dump and scratch server a rehearsal may use: target <= pg_dump <= scratch, by
major; every other case refused, saying what to give. Versions that no server here runs
(a 19) are written down, since the rule is the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.rehearse.versions import (
    ScratchError,
    Server,
    Tool,
    check,
    newer_scratch_note,
)

EMBEDDED_PG_DUMP = Tool(Path("/e/bin/pg_dump"), "18.6", embedded=True)
EMBEDDED = Server("18.6", 18, "postgresql://postgres@/postgres?host=/e", embedded=True)


def server(version: str, shown: str = "postgresql://ops:***@scratch/postgres") -> Server:
    return Server(version, int(version.split(".")[0].removesuffix("beta1")), shown)


def given(version: str) -> Tool:
    return Tool(Path(f"/pg/{version}/bin/pg_dump"), version)


def refusal(target: Server, scratch: Server, pg_dump: Tool) -> str:
    with pytest.raises(ScratchError) as raised:
        check(target, scratch, pg_dump, embedded_major=18)
    assert raised.value.exit_code == 2
    return raised.value.message


@pytest.mark.parametrize("target", ["14.23", "15.19", "16.15", "17.11", "18.6"])
def test_by_default_every_target_up_to_the_embedded_major_fits(target: str) -> None:
    check(server(target), EMBEDDED, EMBEDDED_PG_DUMP, embedded_major=18)


@pytest.mark.parametrize(
    ("target", "pg_dump", "scratch"),
    [("15.19", "15.19", "15.19"), ("15.19", "16.15", "17.11"), ("16.15", "16.15", "18.6"),
     ("14.23", "17.11", "17.11")],
)  # fmt: skip
def test_a_given_pg_dump_between_the_target_and_the_scratch_server_fits(
    target: str, pg_dump: str, scratch: str
) -> None:
    check(server(target), server(scratch), given(pg_dump), embedded_major=18)


def test_a_target_newer_than_every_pg_dump_at_hand_is_refused() -> None:
    said = refusal(server("19beta1"), EMBEDDED, EMBEDDED_PG_DUMP)
    assert said == (
        "the target runs PostgreSQL 19beta1, newer than the embedded PostgreSQL 18.6, which "
        "cannot take a copy of its schema: rehearse on a PostgreSQL 19 server (--scratch-dsn "
        "DSN) with its pg_dump (--pg-dump PATH to a pg_dump 19)"
    )
    # A 19 scratch server is not enough: the embedded pg_dump cannot read a 19.
    said = refusal(server("19.0"), server("19.0"), EMBEDDED_PG_DUMP)
    assert said == (
        "pg_dump 18.6 (/e/bin/pg_dump, the embedded PostgreSQL's) is older than the target's "
        "PostgreSQL 19.0: it cannot copy a newer server's schema. Give --pg-dump PATH to a "
        "pg_dump 19"
    )


def test_a_scratch_server_older_than_the_target_is_refused() -> None:
    said = refusal(server("17.11"), server("16.15"), given("17.11"))
    assert said == (
        "the scratch server (postgresql://ops:***@scratch/postgres) runs PostgreSQL 16.15, "
        "older than the target's 17.11: it cannot take a copy of a newer server's schema. "
        "Give --scratch-dsn a PostgreSQL 17 or newer server, or give none (neither "
        "--scratch-dsn nor MIGRATOR_SCRATCH_DSN) to rehearse on the embedded PostgreSQL 18"
    )
    # Newer than the embedded server too: the embedded one is not offered.
    said = refusal(server("19.0"), server("18.6"), given("19.0"))
    assert said.endswith("Give --scratch-dsn a PostgreSQL 19 or newer server")


def test_the_embedded_pg_dump_is_refused_for_an_older_scratch_server_naming_the_one_to_give() -> (
    None
):
    scratch = server("16.15")
    said = refusal(server("16.15"), scratch, EMBEDDED_PG_DUMP)
    assert said == (
        "pg_dump 18.6 (/e/bin/pg_dump, the embedded PostgreSQL's) writes its copy for "
        "PostgreSQL 18, which the scratch server, PostgreSQL 16.15 (postgresql://ops:***@"
        "scratch/postgres), cannot be trusted to read (pg_dump 17 and later write settings "
        "16 and older refuse). Give --pg-dump PATH to a pg_dump 16"
    )
    said = refusal(server("17.11"), server("17.11"), EMBEDDED_PG_DUMP)
    assert said.endswith(
        "cannot be trusted to read (a dump is written for its pg_dump's own major). Give "
        "--pg-dump PATH to a pg_dump 17"
    )
    said = refusal(server("14.23"), scratch, given("17.11"))
    assert said.startswith("pg_dump 17.11 (/pg/17.11/bin/pg_dump, given by --pg-dump) writes")
    assert said.endswith(
        "Give --pg-dump PATH to a pg_dump of PostgreSQL 14 to 16 (16, the scratch server's "
        "own, is the surest)"
    )


def test_a_given_pg_dump_older_than_the_target_is_refused() -> None:
    said = refusal(server("17.11"), EMBEDDED, given("16.15"))
    assert said == (
        "pg_dump 16.15 (/pg/16.15/bin/pg_dump, given by --pg-dump) is older than the target's "
        "PostgreSQL 17.11: it cannot copy a newer server's schema. Give --pg-dump PATH to a "
        "pg_dump of PostgreSQL 17 to 18 (18, the scratch server's own, is the surest)"
    )


def test_a_scratch_server_newer_than_the_target_is_said_not_refused() -> None:
    assert newer_scratch_note(server("18.6"), EMBEDDED) is None
    assert newer_scratch_note(server("15.19"), EMBEDDED) == (
        "rehearsed on PostgreSQL 18.6, newer than the target's 15.19: where the two majors "
        "differ the copy behaves as 18 does; for 15's own behaviour rehearse on a PostgreSQL "
        "15 server (--scratch-dsn, with --pg-dump of 15)"
    )
