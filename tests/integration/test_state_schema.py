"""Schema `migrator` is built from the files of `migrator/state/migrations/`, in order."""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

from migrator.db.target import Target, connect_engine
from migrator.state import MIGRATIONS, SCHEMA_VERSION, ensure_schema


def _files() -> list[tuple[str, str]]:
    folder = resources.files("migrator.state").joinpath("migrations")
    found = [(f.name, f.read_text(encoding="utf-8")) for f in folder.iterdir()]
    return sorted((name, text) for name, text in found if name.endswith(".sql"))


def test_the_migrations_are_the_numbered_files_in_order() -> None:
    files = _files()
    numbers = [re.fullmatch(r"(\d{4})_[a-z0-9_]+\.sql", name) for name, _ in files]
    assert [int(m[1]) if m else None for m in numbers] == list(range(1, len(files) + 1))
    assert tuple(text for _, text in files) == MIGRATIONS
    assert len(files) == SCHEMA_VERSION


def test_every_file_is_applied_once_in_order_and_the_version_is_their_count(
    database: str, sql: Any
) -> None:
    files = _files()
    engine = connect_engine(Target(database, "--dsn"))
    try:
        with engine.connect() as conn:
            assert ensure_schema(conn) == len(files)
    finally:
        engine.dispose()
    assert sql("select max(version), count(*) from migrator.schema_version") == [
        (len(files), len(files))
    ]
    # One transaction wrote them all, in the order of the files.
    rows = sql("select version from migrator.schema_version order by ctid")
    assert rows == [(v,) for v in range(1, len(files) + 1)]


def test_a_schema_at_any_older_version_is_upgraded_by_the_files_after_it(
    database: str, sql: Any
) -> None:
    files = _files()
    engine = connect_engine(Target(database, "--dsn"))
    try:
        for version in range(1, len(files)):
            sql("drop schema if exists migrator cascade")
            for number, (_, text) in enumerate(files[:version], start=1):
                sql(text)
                sql("insert into migrator.schema_version (version) values (%s)", number)
            with engine.connect() as conn:
                assert ensure_schema(conn) == len(files)
            versions = sql("select version from migrator.schema_version order by ctid")
            assert versions == [(v,) for v in range(1, len(files) + 1)], version
    finally:
        engine.dispose()
