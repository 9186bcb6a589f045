"""Which pg_dump makes the scratch copy and which server takes it, chosen by their versions.

pg_dump copies a server of its own major or an older one, never a newer one, and writes
SQL for a server of its own major: 17 and later write `SET transaction_timeout`, which 16
and older refuse. A dump restores on a server of its pg_dump's major or a newer one. So a
rehearsal needs

    target's major <= pg_dump's major <= scratch server's major

By default both are the embedded PostgreSQL's, the newest major there is: every target up
to it fits, with no option. A `--scratch-dsn` server older than the embedded pg_dump needs
a `--pg-dump` in between (the scratch server's own major is the surest). Whatever does not
fit is refused before anything is made, naming the versions and what to give instead:
never a dump the scratch server cannot read.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from migrator.errors import ExitCode, MigratorError


class ScratchError(MigratorError):
    """The scratch copy could not be made: a missing or unfit tool, a failed restore."""

    exit_code = ExitCode.INVALID


def bundled_bin() -> Path:
    """The folder of the PostgreSQL programs shipped with the embedded server."""
    from migrator.db import embedded

    return embedded.programs()


@dataclass(frozen=True)
class Tool:
    """A PostgreSQL program (pg_dump, psql) and its version."""

    path: Path
    version: str  # 18.6
    embedded: bool = False  # the embedded PostgreSQL's own

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    @property
    def shown(self) -> str:
        """`pg_dump 18.6 (embedded)`, `pg_dump 16.4 (/usr/lib/postgresql/16/bin/pg_dump)`."""
        return f"{self.path.name} {self.version} ({'embedded' if self.embedded else self.path})"


def find_tool(name: str, given: str | Path | None = None) -> Tool:
    """`name` (pg_dump, psql) from `given`, else the embedded server's; with its version."""
    path = Path(given) if given else bundled_bin() / name
    try:
        done = subprocess.run(
            [str(path), "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError as exc:
        raise ScratchError(f"cannot run {name} at {path}: {exc.strerror or exc}") from None
    # `pg_dump (PostgreSQL) 18.6`: another PostgreSQL program (psql) would pass a mere
    # version check and fail only after the scratch database is made.
    found = re.match(rf"\s*{re.escape(name)} \(PostgreSQL\) (\d+(?:\.\d+)?)", done.stdout)
    if done.returncode != 0 or found is None:
        said = (done.stdout.strip() or done.stderr.strip()).splitlines()[:1]
        raise ScratchError(
            f"{path} is not {name}: asked its --version, it answered "
            f"{said[0] if said else 'nothing'!r}"
        )
    return Tool(path, found.group(1), embedded=not given)


@dataclass(frozen=True)
class Server:
    """A PostgreSQL server a rehearsal reads or writes: its version, and how it is shown."""

    version: str  # server_version's first word: 18.6, 19beta1
    major: int  # server_version_num // 10000
    shown: str  # its DSN without the password
    embedded: bool = False

    def __str__(self) -> str:
        """`PostgreSQL 18.6 (embedded)`, `PostgreSQL 16.4 (postgresql://ops:***@db/app)`."""
        return f"PostgreSQL {self.version} ({'embedded' if self.embedded else self.shown})"

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "major": self.major, "embedded": self.embedded}


def server_of(conn: Any, shown: str, embedded: bool = False) -> Server:
    """The server a psycopg connection is connected to."""
    row = conn.execute(
        "select current_setting('server_version'), current_setting('server_version_num')::int"
    ).fetchone()
    return Server(str(row[0]).split()[0], int(row[1]) // 10000, shown, embedded)


def embedded_server(shown: str = "embedded") -> Server:
    """The embedded PostgreSQL, as it will be once started."""
    from migrator.db import embedded

    return Server(embedded.version(), embedded.major(), shown, embedded=True)


def _which_pg_dump(target: Server, scratch: Server) -> str:
    if target.major == scratch.major:
        return f"a pg_dump {target.major}"
    return (
        f"a pg_dump of PostgreSQL {target.major} to {scratch.major} "
        f"({scratch.major}, the scratch server's own, is the surest)"
    )


def check(target: Server, scratch: Server, pg_dump: Tool, embedded_major: int) -> None:
    """Refuse, naming the versions and what to give instead, unless
    target's major <= pg_dump's major <= scratch server's major."""
    if scratch.major < target.major:
        if scratch.embedded:
            raise ScratchError(
                f"the target runs PostgreSQL {target.version}, newer than the embedded "
                f"PostgreSQL {scratch.version}, which cannot take a copy of its schema: "
                f"rehearse on a PostgreSQL {target.major} server (--scratch-dsn DSN) with "
                f"its pg_dump (--pg-dump PATH to a pg_dump {target.major})"
            )
        instead = (
            f", or give none (neither --scratch-dsn nor MIGRATOR_SCRATCH_DSN) to rehearse "
            f"on the embedded PostgreSQL {embedded_major}"
            if embedded_major >= target.major
            else ""
        )
        raise ScratchError(
            f"the scratch server ({scratch.shown}) runs PostgreSQL {scratch.version}, older "
            f"than the target's {target.version}: it cannot take a copy of a newer server's "
            f"schema. Give --scratch-dsn a PostgreSQL {target.major} or newer server{instead}"
        )
    whose = "the embedded PostgreSQL's" if pg_dump.embedded else "given by --pg-dump"
    if pg_dump.major < target.major:
        raise ScratchError(
            f"pg_dump {pg_dump.version} ({pg_dump.path}, {whose}) is older than the target's "
            f"PostgreSQL {target.version}: it cannot copy a newer server's schema. Give "
            f"--pg-dump PATH to {_which_pg_dump(target, scratch)}"
        )
    if pg_dump.major > scratch.major:
        why = (
            "pg_dump 17 and later write settings 16 and older refuse"
            if pg_dump.major >= 17 and scratch.major <= 16
            else "a dump is written for its pg_dump's own major"
        )
        raise ScratchError(
            f"pg_dump {pg_dump.version} ({pg_dump.path}, {whose}) writes its copy for "
            f"PostgreSQL {pg_dump.major}, which the scratch server, {scratch}, cannot be "
            f"trusted to read ({why}). Give --pg-dump PATH to {_which_pg_dump(target, scratch)}"
        )


def newer_scratch_note(target: Server, scratch: Server) -> str | None:
    """What to say when the copy lives on a newer major than the target's."""
    if scratch.major <= target.major:
        return None
    return (
        f"rehearsed on PostgreSQL {scratch.version}, newer than the target's "
        f"{target.version}: where the two majors differ the copy behaves as "
        f"{scratch.major} does; for {target.major}'s own behaviour rehearse on a PostgreSQL "
        f"{target.major} server (--scratch-dsn, with --pg-dump of {target.major})"
    )


@dataclass(frozen=True)
class Versions:
    """What a rehearsal copies from and onto, and with what: checked to fit."""

    target: Server
    scratch: Server
    pg_dump: Tool
    psql: Tool


def choose(target: Server, scratch: Server, pg_dump_path: str | None) -> Versions:
    """The pg_dump (`pg_dump_path`, else the embedded one) checked to fit between the
    target and the scratch server (`check`), and the psql that restores: the one beside
    a given pg_dump, else the embedded one."""
    from migrator.db import embedded

    pg_dump = find_tool("pg_dump", pg_dump_path)
    check(target, scratch, pg_dump, embedded.major())
    beside = pg_dump.path.parent / "psql"
    psql = find_tool("psql", beside if pg_dump_path and beside.exists() else None)
    return Versions(target, scratch, pg_dump, psql)
