"""The PostgreSQL a benchmark runs against: the one given, or a throwaway embedded one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def server(dsn: str | None, workdir: Path) -> Iterator[str]:
    """`dsn` when given; else an embedded server in `workdir`, stopped afterwards."""
    if dsn:
        yield dsn
        return
    from migrator.db import embedded

    pgdata = workdir / "pgdata"
    try:
        yield embedded.start(pgdata)
    finally:
        embedded.stop(pgdata)
