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
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs, imported by pgserver
        import pgserver  # type: ignore[import-untyped]

    pg = pgserver.get_server(workdir / "pgdata", cleanup_mode="stop")
    try:
        yield str(pg.get_uri())
    finally:
        pg.cleanup()
