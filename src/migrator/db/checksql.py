"""Check SQL: what a check may not send, found at validate time and refused at run time.

A check runs in one transaction that is always rolled back, as the role it started with,
and (but for a probe that declares it writes) read-only. SQL that could leave that
transaction or that role, or act where a rollback cannot reach, has no place in a check:

- transaction control: BEGIN, START, COMMIT, END, ROLLBACK, ABORT, SAVEPOINT, RELEASE,
  PREPARE TRANSACTION, COMMIT/ROLLBACK PREPARED (a COMMIT ends the read-only
  transaction, and what follows it would run read-write);
- CALL (a procedure may commit) and DO (a block runs what it likes);
- role and session changes: SET/RESET ROLE, SET/RESET SESSION AUTHORIZATION, RESET ALL,
  SET SESSION CHARACTERISTICS, SET TRANSACTION, and SET/RESET of the settings in
  `SENSITIVE_SETTINGS`; DISCARD; LOAD (a shared library);
- a statement that goes on past a `;` (a routine's BEGIN ATOMIC body, a rule's actions
  in parentheses): a definition, whose inner statements no rule reads one by one;
- COPY, whatever its direction (`COPY ... TO PROGRAM` runs a shell command on the
  database host, and a check has no reason to copy);
- the functions in `FORBIDDEN_FUNCTIONS` (session-level advisory locks, work done
  outside the transaction, on other sessions or on the server's files), and `set_config`
  of a sensitive setting or of a name that is not a literal.

The rules read words, not raw text: they are built on the lexer of `migrator.db.sqltext`,
so `commit` inside a string, a comment, a dollar quote or a quoted identifier is text.
`sql_problems` is what `migrator validate` applies to every SQL text a check sends;
`CheckGuard` is what the engine hangs on a check's connection (see `migrator.db.sqltext.
execute`): it refuses such a statement before it is sent, and after each statement makes
sure the transaction is still open and the role and read-only mode are what they were.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from migrator.db.sqltext import GUARD_KEY, _tokens

__all__ = [
    "FORBIDDEN_FUNCTIONS",
    "FORBIDDEN_PREFIXES",
    "GUARD_KEY",
    "SENSITIVE_SETTINGS",
    "CheckGuard",
    "CheckSqlRefused",
    "run_as",
    "sql_problems",
    "statement_problem",
]

SENSITIVE_SETTINGS = frozenset(
    {
        "role",
        "session_authorization",
        "default_transaction_read_only",
        "transaction_read_only",
        # How the server reads a backslash in '...': the rules read strings as PostgreSQL
        # does with standard_conforming_strings on (the check's transaction sets it on).
        # Off, 'a\'; commit; ...' would be one string to the rules and a COMMIT to the
        # server.
        "standard_conforming_strings",
        "backslash_quote",
    }
)

_ADVISORY = "a session-level advisory lock outlives the check's transaction"
_OUTSIDE = "it acts outside the check's transaction, where no rollback reaches"
FORBIDDEN_FUNCTIONS: dict[str, str] = {
    **{
        f"pg_{t}advisory_{k}{s}": _ADVISORY
        for t in ("", "try_")
        for k in ("lock",)
        for s in ("", "_shared")
    },
    **{f"pg_advisory_unlock{s}": _ADVISORY for s in ("", "_shared", "_all")},
    **{
        name: "it runs SQL on another connection, outside the check's transaction"
        for name in (
            "dblink",
            "dblink_exec",
            "dblink_connect",
            "dblink_connect_u",
            "dblink_send_query",
            "dblink_open",
        )
    },
    **{name: "it acts on other sessions" for name in ("pg_terminate_backend", "pg_cancel_backend")},
    **{
        name: "it reads or writes the server's files"
        for name in (
            "lo_import",
            "lo_export",
            "pg_file_write",
            "pg_file_rename",
            "pg_file_unlink",
            "pg_file_sync",
        )
    },
    **{
        name: _OUTSIDE
        for name in (
            "lo_unlink",
            "lo_create",
            "lo_creat",
            "lo_from_bytea",
            "lo_put",
            "nextval",
            "setval",
            "pg_logical_emit_message",
            "pg_reload_conf",
            "pg_rotate_logfile",
            "pg_switch_wal",
            "pg_create_restore_point",
            "pg_create_physical_replication_slot",
            "pg_create_logical_replication_slot",
            "pg_drop_replication_slot",
            "pg_promote",
            "pg_backup_start",
            "pg_backup_stop",
            "pg_copy_physical_replication_slot",
            "pg_copy_logical_replication_slot",
            "pg_replication_slot_advance",
            "pg_logical_slot_get_changes",
            "pg_logical_slot_get_binary_changes",
            "pg_log_backend_memory_contexts",
            "pg_wal_replay_pause",
            "pg_wal_replay_resume",
            "pg_import_system_collations",
            "pg_stat_statements_reset",
        )
    },
    # Functions that run SQL text of their own: no rule reads that text, so what it does
    # (a role switched, a backend ended) would pass every rule.
    **{
        name: "it runs SQL text of its own, which no rule reads"
        for name in (
            "ts_stat",
            "ts_rewrite",
            "query_to_xml",
            "query_to_xmlschema",
            "query_to_xml_and_xmlschema",
            "cursor_to_xml",
            "cursor_to_xmlschema",
        )
    },
}
# Families refused by the start of their names: statistics reset, replication origins.
FORBIDDEN_PREFIXES = {
    "pg_stat_reset": _OUTSIDE,
    "pg_replication_origin_": _OUTSIDE,
    "dblink": "it runs SQL on another connection, outside the check's transaction",
}

_TRANSACTION_WORDS = {
    "begin",
    "start",
    "commit",
    "end",
    "rollback",
    "abort",
    "savepoint",
    "release",
}
_REFUSED_FIRST = {
    "call": "CALL runs a procedure, which may commit",
    "do": "a DO block runs what it likes (a commit, a role change)",
    "copy": "COPY has no place in a check (COPY ... TO PROGRAM runs a shell command "
    "on the database host)",
    "discard": "DISCARD changes the session (DISCARD ALL ends its role and locks)",
    "load": "LOAD loads a shared library into the server",
    "lock": "LOCK TABLE holds a lock that the application may queue behind; a check reads",
}


@dataclass(frozen=True)
class Word:
    """One token of a statement: `kind` is word (a keyword or a bare name, lowercased),
    ident (a "quoted identifier", unquoted), string (a literal's text), other (any other
    literal: a dollar quote, an escape string) or punct (one character)."""

    kind: str
    value: str
    at: int = field(default=-1, compare=False)
    """Where the word starts in the text it was read from (0-based), for a finding's column."""


def words(sql: str) -> list[list[Word]]:
    """Each statement of `sql` as a list of words (comments dropped, literals kept), each
    word with its offset in `sql`."""
    out: list[list[Word]] = [[]]
    at = 0
    for kind, chunk in _tokens(sql):
        if kind == "semicolon":
            out.append([])
        elif kind == "quoted":
            out[-1].append(replace(_literal(chunk), at=at))
        elif kind == "param":
            out[-1].append(Word("other", f":{chunk}", at))
            at += 1  # the colon, which the token leaves out
        elif kind == "code":
            out[-1].extend(_code_words(chunk, at))
        at += len(chunk)
    return [s for s in out if s]


def _literal(chunk: str) -> Word:
    if chunk.startswith('"'):
        return Word("ident", chunk[1:-1].replace('""', '"'))
    if chunk.startswith("'"):
        return Word("string", chunk[1:-1].replace("''", "'"))
    return Word("other", chunk)


def _code_words(chunk: str, at: int = 0) -> list[Word]:
    out: list[Word] = []
    i, n = 0, len(chunk)
    while i < n:
        ch = chunk[i]
        if ch.isalpha() or ch == "_":
            j = i + 1
            while j < n and (chunk[j].isalnum() or chunk[j] in "_$"):
                j += 1
            out.append(Word("word", chunk[i:j].lower(), at + i))
            i = j
        elif ch.isspace():
            i += 1
        elif ch.isdigit():
            j = i + 1
            while j < n and (chunk[j].isalnum() or chunk[j] in "._"):
                j += 1
            out.append(Word("other", chunk[i:j], at + i))
            i = j
        else:
            out.append(Word("punct", ch, at + i))
            i += 1
    # An escape string E'...' leaves its E in the code before it: it is no word.
    if out and out[-1] == Word("word", "e") and chunk.endswith(("e", "E")):
        out[-1] = Word("punct", "E", out[-1].at)
    return out


def _names(statement: list[Word]) -> list[str]:
    return [w.value for w in statement if w.kind == "word"]


def statement_problem(statement: list[Word]) -> str | None:
    """Why a check may not send this statement (as words), or None."""
    first = statement[0].value if statement[0].kind == "word" else ""
    names = _names(statement)
    second = names[1] if len(names) > 1 and names[0] == first else ""
    if first in _TRANSACTION_WORDS or (first == "prepare" and second == "transaction"):
        return (
            f"{first.upper()} controls the transaction: a check runs in one transaction "
            "that is always rolled back, and what follows a COMMIT would run outside it"
        )
    if first in _REFUSED_FIRST:
        return _REFUSED_FIRST[first]
    if Word("punct", ";") in statement:
        # The statement goes on past a `;` (a BEGIN ATOMIC body, rule actions in
        # parentheses): a definition, and more statements than the rules read one by one.
        return (
            "a `;` inside parentheses or a BEGIN ATOMIC ... END body defines a function or "
            "a rule, which a check never does"
        )
    if first in ("set", "reset"):
        # A setting may be named as a "quoted identifier": SET "role" TO ...
        named = [w.value.lower() for w in statement[1:] if w.kind in ("word", "ident")]
        problem = _setting_problem(first, named)
        if problem:
            return problem
    for i, word in enumerate(statement[:-1]):
        if statement[i + 1] != Word("punct", "(") or word.kind not in ("word", "ident"):
            continue
        name = word.value if word.kind == "ident" else word.value.lower()
        if name in FORBIDDEN_FUNCTIONS:
            return f"{name}() is refused in a check: {FORBIDDEN_FUNCTIONS[name]}"
        for prefix, why in FORBIDDEN_PREFIXES.items():
            if name.startswith(prefix):
                return f"{name}() is refused in a check: {why}"
        if name == "set_config":
            problem = _set_config_problem(statement[i + 2 :])
            if problem:
                return problem
    return None


def _setting_problem(verb: str, rest: list[str]) -> str | None:
    if rest[:1] in (["session"], ["local"]) and rest[1:2] not in (
        ["authorization"],
        ["characteristics"],
    ):
        rest = rest[1:]  # SET SESSION ROLE, SET LOCAL ROLE: the same as SET ROLE
    target = " ".join(rest[:2])
    if rest[:1] in (["role"], ["transaction"]) or target in (
        "session authorization",
        "session characteristics",
    ):
        what = target if rest[0] == "session" else rest[0]
        return (
            f"{verb.upper()} {what.upper()} changes who the check runs as or how its "
            "transaction behaves: a check runs as the role and in the mode it was given"
        )
    if verb == "reset" and rest[:1] == ["all"]:
        return "RESET ALL resets the role and the read-only mode the check was given"
    if rest and rest[0] in SENSITIVE_SETTINGS:
        return f"{verb.upper()} {rest[0]} is refused in a check"
    return None


def _set_config_problem(args: list[Word]) -> str | None:
    if not args or args[0].kind != "string" or args[1:2] != [Word("punct", ",")]:
        return "set_config() is refused in a check unless its setting is named by a literal"
    if args[0].value.strip().lower() in SENSITIVE_SETTINGS:
        return f"set_config('{args[0].value}', ...) changes the check's role or read-only mode"
    return None


def sql_problems(sql: str) -> list[str]:
    """Why a check may not send `sql`: one line per refused statement (none: it may)."""
    problems = []
    for number, statement in enumerate(words(sql), start=1):
        problem = statement_problem(statement)
        if problem:
            problems.append(f"statement {number}: {problem}")
    return problems


def run_as(connection: Any, role: str) -> None:
    """`SET LOCAL ROLE` to `role` in the transaction under way, the role always quoted as
    an identifier (a role named "Public" is not PUBLIC); the check's guard then holds every
    later statement to that role."""
    quoted = '"' + role.replace('"', '""') + '"'
    connection.exec_driver_sql(f"set local role {quoted}".replace("%", "%%"), {})
    guard = connection.info.get(GUARD_KEY)
    if isinstance(guard, CheckGuard):
        guard.user = role


class CheckSqlRefused(Exception):
    """A check sent, or tried to send, what a check may not: the check fails."""


class CheckGuard:
    """Kept on a check's connection (`connection.info[GUARD_KEY]`) while it is evaluated.

    `migrator.db.sqltext.execute` calls `before` with each statement and `after` once it
    ran. `user` is the role every statement must run as (`run_as` changes it, for a probe),
    `read_only` whether the transaction must stay read-only. The first violation is kept
    (`violation`): a plugin that swallowed the exception still gets a failed check.
    """

    def __init__(self, user: str, read_only: bool) -> None:
        self.user = user
        self.read_only = read_only
        self.violation: str | None = None

    def _refuse(self, reason: str) -> None:
        self.violation = self.violation or reason
        raise CheckSqlRefused(reason)

    def before(self, statement: Any) -> None:
        if self.violation:
            raise CheckSqlRefused(self.violation)
        for stmt in words(statement.text):
            problem = statement_problem(stmt)
            if problem:
                self._refuse(f"refused before it ran: {problem}")

    def after(self, connection: Any) -> None:
        """Raise CheckSqlRefused unless the check's transaction is still open, as the
        same role and in the same mode."""
        from psycopg import pq

        raw = connection.connection.driver_connection
        if raw.info.transaction_status not in (
            pq.TransactionStatus.INTRANS,
            pq.TransactionStatus.INERROR,
        ):
            self._refuse("a statement ended the check's transaction")
        user, read_only, conforming = connection.exec_driver_sql(
            "select current_user, current_setting('transaction_read_only'), "
            "current_setting('standard_conforming_strings')",
            {},
        ).one()
        if user != self.user:
            self._refuse(f"a statement changed the role from {self.user} to {user}")
        if (read_only == "on") != self.read_only:
            self._refuse("a statement changed the transaction's read-only mode")
        if conforming != "on":
            self._refuse("a statement turned standard_conforming_strings off")
