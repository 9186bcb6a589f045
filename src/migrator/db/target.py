"""Where the database is, and connecting to it without ever showing a password.

`--dsn`, else `MIGRATOR_DSN`, else the file `MIGRATOR_DSN_FILE` names (a container's
mounted secret, as `POSTGRES_PASSWORD_FILE`), else `DATABASE_URL`, else the embedded
PostgreSQL (`db/embedded.py`) in `.migrator/pgdata` under the current directory. The embedded
server is left running for the next command, which reuses it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migrator.errors import DatabaseUnreachable, UsageError

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
        """The DSN without its password; a DSN that cannot be parsed is not shown at all
        (where its password ends cannot be told): only where it came from."""
        if dsn_problem(self.dsn) is not None:
            return f"the DSN given by {self.source} (unparseable)"
        return redact(self.dsn)

    @property
    def password(self) -> str | None:
        return _password(self.dsn)

    def secrets(self) -> list[str]:
        """Everything to mask: the password; for a DSN that cannot be parsed, also every
        piece that might be one, and the whole text."""
        if dsn_problem(self.dsn) is None:
            patterns = (_URL_PASSWORD, _QUERY_PASSWORD)
            written = [m["pw"] for p in patterns if (m := p.search(self.dsn))]
            return [p for p in (self.password, *written) if p]  # as libpq reads it, as written
        return [self.dsn, *_candidates(self.dsn)]


# libpq reads a URL's user information up to the first `@` or `/`, the password after
# its first `:`; a key=value value is quoted ('...', with \\ escapes) or runs to a space
# that no backslash escapes.
_URL_PASSWORD = re.compile(
    r"^(?P<head>[a-z][a-z0-9+.\-]*://[^:/@]*:)(?P<pw>[^@/]*)(?P<tail>@)", re.I
)
_KV_PASSWORD = re.compile(
    r"(?P<head>\bpassword\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|(?:\\.|[^\s\\])+)", re.I
)
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&]password=)(?P<pw>[^&#]*)", re.I)
_QUOTED = re.compile(r'"[^"]*"')


def _is_url(dsn: str) -> bool:
    return bool(re.match(r"^postgres(?:ql)?://", dsn.strip(), re.I))


def dsn_problem(dsn: str) -> str | None:
    """Why libpq (or migrator) cannot parse `dsn`, without any of its text; None if it can.

    A URL whose host holds an `@` is refused too: libpq reads it, but the password ended
    at the first `@` and the rest became the host (`postgresql://u:p@ss@host/db`)."""
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    try:
        parsed = conninfo_to_dict(dsn)
    except ProgrammingError as error:
        return _without_dsn_text(str(error))
    if any("@" in str(parsed.get(key) or "") for key in ("host", "hostaddr", "port", "dbname")):
        return "an @ after the user information: write an @ in a password as %40"
    if _password(dsn) != (parsed.get("password") or None):
        return "where its password ends cannot be told"
    return None


def _without_dsn_text(message: str) -> str:
    """libpq's message with what it quotes of the DSN left out, option names kept."""
    from psycopg.conninfo import conninfo_to_dict

    known = set(conninfo_to_dict("").keys()) | _option_names()
    first = (message.strip().splitlines() or ["not a valid DSN"])[0]

    def keep(quoted: str) -> bool:  # an option's name, or a sign ("=", "]")
        return quoted in known or len(quoted) <= 1

    return _QUOTED.sub(lambda m: m[0] if keep(m[0][1:-1]) else '"…"', first)


def _option_names() -> set[str]:
    from psycopg import pq

    try:
        return {d.keyword.decode() for d in pq.Conninfo.get_defaults()}
    except Exception:  # a libpq without PQconndefaults: no name is kept
        return set()


def _candidates(dsn: str) -> list[str]:
    """What might be a password in a DSN that cannot be parsed: every reading of it."""
    found = [m["pw"].strip("'") for m in _KV_PASSWORD.finditer(dsn)]
    for m in _KV_PASSWORD.finditer(dsn):  # to the next `key=`: the value had spaces
        rest = dsn[m.start("pw") :]
        end = re.search(r"\s+\w+\s*=", rest)
        value = rest[: end.start() if end else len(rest)].strip().strip("'")
        found += [value, *value.split()]
    found += [m["pw"] for m in _QUERY_PASSWORD.finditer(dsn)]
    if "://" in dsn:
        rest = dsn.split("://", 1)[1]
        user_info = rest.rsplit("@", 1)[0] if "@" in rest else ""
        if ":" in user_info:
            found.append(user_info.split(":", 1)[1])
        if "@" in user_info:
            found += user_info.split("@")
    return [f for f in found if f]


def redact(dsn: str) -> str:
    """The DSN with any password replaced by `***` (URL, query string and key=value forms);
    one that cannot be parsed is not shown at all."""
    if dsn_problem(dsn) is not None:
        return "a DSN that cannot be parsed"
    if not _is_url(dsn):
        return _KV_PASSWORD.sub(lambda m: m["head"] + "***", dsn)
    out = _URL_PASSWORD.sub(lambda m: m["head"] + ("***" if m["pw"] else "") + m["tail"], dsn)
    return _QUERY_PASSWORD.sub(lambda m: m["head"] + "***", out)


def _password(dsn: str) -> str | None:
    """The password as libpq reads it (decoded), or None."""
    from urllib.parse import unquote

    if _is_url(dsn):
        for pattern in (_QUERY_PASSWORD, _URL_PASSWORD):
            match = pattern.search(dsn)
            if match and match["pw"]:
                return unquote(match["pw"])
        return None
    matches = list(_KV_PASSWORD.finditer(dsn))
    match = matches[-1] if matches else None  # libpq keeps the last one
    if match is None or not match["pw"]:
        return None
    value = match["pw"]
    if value.startswith("'"):
        value = value[1:-1]
    return re.sub(r"\\(.)", r"\1", value) or None


def scrub(text: str, target: Target | None) -> str:
    """Remove the target's password from any text (an error message from a driver)."""
    from urllib.parse import quote

    for secret in sorted(target.secrets() if target else [], key=len, reverse=True):
        text = text.replace(secret, "***").replace(quote(secret, safe=""), "***")
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
    if env.get("MIGRATOR_DSN"):
        if env.get("MIGRATOR_DSN_FILE"):
            raise UsageError("MIGRATOR_DSN and MIGRATOR_DSN_FILE are both set: give one")
        return Target(env["MIGRATOR_DSN"], "MIGRATOR_DSN")
    if env.get("MIGRATOR_DSN_FILE"):
        return Target(dsn_from_file(env["MIGRATOR_DSN_FILE"]), "MIGRATOR_DSN_FILE")
    if env.get("DATABASE_URL"):
        return Target(env["DATABASE_URL"], "DATABASE_URL")
    return Target(embedded_dsn(Path.cwd() / EMBEDDED_DIR, announce), "embedded")


def named_dsn(dsn: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """The DSN a command was given (the option, else the environment as `resolve_target`
    reads it), or None: no embedded server is started for it."""
    env = os.environ if environ is None else environ
    if dsn or any(env.get(n) for n in ("MIGRATOR_DSN", "MIGRATOR_DSN_FILE", "DATABASE_URL")):
        return resolve_target(dsn, env).dsn
    return None


def dsn_from_file(path: str) -> str:
    """The DSN a file holds (`MIGRATOR_DSN_FILE`): its text without the line end; a file
    that cannot be read, or is empty, is a usage error (exit 2) naming the file, never
    the embedded server instead."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        raise UsageError(f"MIGRATOR_DSN_FILE {path}: cannot read it: {reason}") from None
    value = text.strip()
    if not value:
        raise UsageError(f"MIGRATOR_DSN_FILE {path} is empty: it holds the DSN")
    return value


def embedded_dsn(pgdata: Path, announce: Callable[[str], None] | None = None) -> str:
    """Start (or reuse) the embedded PostgreSQL in `pgdata` and return its DSN."""
    from migrator.db import embedded

    return embedded.start(pgdata, announce)


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

    problem = dsn_problem(target.dsn)
    if problem is not None:
        raise DatabaseUnreachable(target.shown, f"not a valid DSN: {problem}")

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
    # `parallel: 16` opens 17 more at once, and each stream's lock watcher one more while a
    # batch runs longer than its first look (db/lockwait.py): room for them beyond the
    # pool's 5 kept ones.
    options: dict[str, Any] = {"pool_pre_ping": True, "creator": creator, "max_overflow": 40}
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
        reason = _without_dsn_text(str(error))
        reason = scrub(f"not a valid DSN: {reason}", target)
        raise DatabaseUnreachable(target.shown, reason) from None
    return engine
