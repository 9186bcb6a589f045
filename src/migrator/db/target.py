"""Where the database is, and connecting to it without ever showing a password.

`--dsn`, else `MIGRATOR_DSN`, else `DATABASE_URL`, else the embedded PostgreSQL
started from `pgserver` in `.migrator/pgdata` under the current directory. The
embedded server is left running for the next command, which reuses it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migrator.errors import DatabaseUnreachable

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

EMBEDDED_DIR = Path(".migrator") / "pgdata"


@dataclass(frozen=True)
class Target:
    """A database to work on: its DSN (secret), how to show it, and where it came from."""

    dsn: str
    source: str

    @property
    def shown(self) -> str:
        return redact(self.dsn)

    @property
    def password(self) -> str | None:
        return _password(self.dsn)


_URL_PASSWORD = re.compile(
    r"^(?P<head>[a-z][a-z0-9+.\-]*://[^:/@?#]*:)(?P<pw>[^@/?#]*)(?P<tail>@)", re.I
)
_KV_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|\S+)", re.I)
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&]password=)(?P<pw>[^&#]*)", re.I)


def redact(dsn: str) -> str:
    """The DSN with any password replaced by `***` (URL, query string and key=value forms)."""
    if "://" not in dsn:
        return _KV_PASSWORD.sub(lambda m: m["head"] + "***", dsn)
    out = _URL_PASSWORD.sub(lambda m: m["head"] + ("***" if m["pw"] else "") + m["tail"], dsn)
    return _QUERY_PASSWORD.sub(lambda m: m["head"] + "***", out)


def _password(dsn: str) -> str | None:
    patterns = (_URL_PASSWORD, _QUERY_PASSWORD) if "://" in dsn else (_KV_PASSWORD,)
    for pattern in patterns:
        match = pattern.search(dsn)
        if match and match["pw"]:
            return match["pw"].strip("'")
    return None


def scrub(text: str, target: Target | None) -> str:
    """Remove the target's password from any text (an error message from a driver)."""
    secret = target.password if target else None
    if secret:
        text = text.replace(secret, "***")
        from urllib.parse import quote

        text = text.replace(quote(secret, safe=""), "***")
    return text


def resolve_target(
    dsn: str | None,
    environ: Mapping[str, str] | None = None,
    announce: Callable[[str], None] | None = None,
) -> Target:
    """Pick the database: the option, the environment, else the embedded server."""
    env = os.environ if environ is None else environ
    if dsn:
        return Target(dsn, "--dsn")
    for name in ("MIGRATOR_DSN", "DATABASE_URL"):
        if env.get(name):
            return Target(env[name], name)
    return Target(embedded_dsn(Path.cwd() / EMBEDDED_DIR, announce), "embedded")


def embedded_dsn(pgdata: Path, announce: Callable[[str], None] | None = None) -> str:
    """Start (or reuse) the embedded PostgreSQL in `pgdata` and return its DSN."""
    import warnings

    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import pgserver

        pgdata.mkdir(parents=True, exist_ok=True)
        was_running = _postmaster_alive(pgdata)
        server = pgserver.get_server(pgdata, cleanup_mode=None)  # type: ignore[attr-defined]
    if not was_running and announce is not None:
        announce(f"started the embedded PostgreSQL in {_relative(pgdata)}")
    return str(server.get_uri())


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _postmaster_alive(pgdata: Path) -> bool:
    pid_file = pgdata / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def application_name(pid: int | None = None, host: str | None = None) -> str:
    """The `application_name` of the sessions of migrator process `pid` on `host` (default:
    this one), as `pg_stat_activity` shows it: `migrator 4242@deploy-1`. `migrator unlock`
    finds the sessions of a frozen run's process by it."""
    import socket

    name = f"migrator {os.getpid() if pid is None else pid}@{host or socket.gethostname()}"
    return name[:63]  # PostgreSQL keeps no more (NAMEDATALEN - 1)


def connect_engine(target: Target, **engine_options: Any) -> Engine:
    """A SQLAlchemy engine for the target, proven reachable; else DatabaseUnreachable (exit 5)."""
    import psycopg
    from sqlalchemy import create_engine, exc

    def creator() -> psycopg.Connection[Any]:
        # psycopg parses every DSN form libpq knows (URLs and key=value strings). No
        # prepared statements: behind a pooler the next transaction may run on a server
        # session that has (or lacks) one of the same name (DuplicatePreparedStatement).
        return psycopg.connect(
            target.dsn,
            connect_timeout=10,
            application_name=application_name(),
            prepare_threshold=None,
        )

    # A run holds a few connections of its own (lock, audit, step); a backfill with
    # `parallel: 16` opens 17 more at once: room for them beyond the pool's 5 kept ones.
    options: dict[str, Any] = {"pool_pre_ping": True, "creator": creator, "max_overflow": 24}
    options.update(engine_options)
    engine = create_engine("postgresql+psycopg://", **options)
    try:
        with engine.connect():
            pass
    except exc.DBAPIError as error:
        engine.dispose()
        reason = str(error.orig).strip().splitlines()[0] if error.orig else "connection failed"
        raise DatabaseUnreachable(target.shown, scrub(reason, target)) from None
    except psycopg.ProgrammingError as error:  # a DSN libpq cannot parse
        engine.dispose()
        raise DatabaseUnreachable(
            target.shown, scrub(f"not a valid DSN: {error}", target)
        ) from None
    return engine
