"""`migrator server status | start | stop`: the embedded PostgreSQL as a user meets it.

The server lives in `.migrator/pgdata` under the current directory (`db/target.py`'s
`EMBEDDED_DIR`), the folder every command without a DSN uses; `db/embedded.py` knows the
package that ships it. `status` only looks: it never starts anything, and describes a data
folder the embedded server cannot open (another major made it) instead of failing.
Each command shows the same document (`--output json`), or only the DSN (`dsn_only`), so
that `psql "$(migrator server start --output dsn)"` opens a session on it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from migrator.api.context import Context
from migrator.errors import DatabaseUnreachable, ExitCode

if TYPE_CHECKING:
    from migrator.db.embedded import EmbeddedStatus


def _pgdata(pgdata: Path | None) -> Path:
    from migrator.db.target import EMBEDDED_DIR

    return pgdata if pgdata is not None else Path.cwd() / EMBEDDED_DIR


def server_status(ctx: Context, pgdata: Path | None = None, dsn_only: bool = False) -> ExitCode:
    """The embedded server of the data folder: its version, whether it runs (pid, DSN),
    and any reason it cannot open the folder. Starts nothing. `dsn_only`: the DSN alone,
    exit 5 when no server runs there."""
    from migrator.db import embedded

    found = embedded.status(_pgdata(pgdata))
    if dsn_only:
        return _show_dsn(ctx, found)
    _show(ctx, found, {})
    return ExitCode.OK


def server_start(ctx: Context, pgdata: Path | None = None, dsn_only: bool = False) -> ExitCode:
    """Start the embedded server (made on first use), or find it running; its DSN.
    Exit 2 for a data folder of another major (`OtherMajorData`), 5 when it cannot start."""
    from migrator.db import embedded

    folder = _pgdata(pgdata)
    started: list[str] = []
    embedded.start(folder, announce=started.append)
    found = embedded.status(folder)
    if dsn_only:
        for line in started:
            print(line, file=ctx.err)
        return _show_dsn(ctx, found)
    if ctx.output != "json":
        where = embedded.shown(folder)
        ctx.out.write(
            (started[0] if started else f"the embedded PostgreSQL already runs in {where}") + "\n"
        )
    _show(ctx, found, {"started": bool(started)})
    return ExitCode.OK


def server_stop(ctx: Context, pgdata: Path | None = None) -> ExitCode:
    """Stop the server running on the data folder, whatever its version (a fast shutdown:
    its sessions are ended); exit 0 also when none ran."""
    from migrator.db import embedded

    folder = _pgdata(pgdata)
    before = embedded.status(folder)
    stopped = embedded.stop(folder)
    after = embedded.status(folder)
    if ctx.output == "json":
        _show(ctx, after, {"stopped": stopped, "stopped_pid": before.pid if stopped else None})
        return ExitCode.OK
    where = embedded.shown(folder)
    if stopped:
        made_by = (
            f"PostgreSQL {before.data_major} server" if before.problem else "embedded PostgreSQL"
        )
        ctx.out.write(f"stopped the {made_by} (pid {before.pid}) in {where}\n")
    else:
        ctx.out.write(f"no PostgreSQL runs in {where}: nothing to stop\n")
    return ExitCode.OK


def _show_dsn(ctx: Context, found: EmbeddedStatus) -> ExitCode:
    if found.dsn is None:
        from migrator.db import embedded

        raise DatabaseUnreachable(
            f"the embedded PostgreSQL in {embedded.shown(found.pgdata)}",
            "it is not running: `migrator server start` starts it",
        )
    ctx.out.write(found.dsn + "\n")
    return ExitCode.OK


def _show(ctx: Context, found: EmbeddedStatus, extra: dict[str, Any]) -> None:
    from migrator.db import embedded

    if ctx.output == "json":
        ctx.emit_json({**found.as_json(), **extra})
        return
    where = embedded.shown(found.pgdata)
    if found.data_major is None and found.problem:
        folder = where  # a file in its place: the problem says so
    elif found.data_major is None:
        folder = (
            f"{where} (none yet: `migrator server start`, or any command without a DSN, makes it)"
        )
    else:
        folder = f"{where} (made by PostgreSQL {found.data_major})"
    if found.running:
        state = f"yes, pid {found.pid}"
        if found.problem:
            state += f": a PostgreSQL {found.data_major} server, not the embedded one"
    else:
        state = "no"
    rows = [
        ("data folder", folder),
        ("version", f"PostgreSQL {found.version} (the {embedded.PACKAGE} package)"),
        ("running", state),
        ("dsn", found.dsn or "(none while it is not running)"),
        ("programs", f"{embedded.programs()} (psql, pg_dump, pgbench)"),
    ]
    for name, value in rows:
        ctx.out.write(f"{name:<12} {value}\n")
    if found.problem:
        ctx.out.write(f"problem: {found.problem}\n")
