"""Lint rules only a plan can know: how its SQL runs (in a transaction migrator opened or
not, once or batch by batch), which `:name` parameters it can bind, and what its step's
keys say. Each finding is placed at the word it is about in the step's text; SQL an action
generates (a `policy` step's CREATE POLICY) is placed at the step.

- `undefined-bind-variable`: a `:name` that is neither a plan variable nor one the
  action binds itself (a backfill's `:lo` and `:hi`): the step fails when it runs.
- `parameter-in-generated-sql`: a `:name` in SQL an action generates from its keys (a
  `policy` step's `using`): that DDL is sent with no parameters, so it fails at apply.
- `transaction-nesting`: BEGIN, START TRANSACTION, COMMIT, END, ROLLBACK, ABORT or a
  two-phase PREPARE/COMMIT/ROLLBACK in a text that runs inside migrator's transaction
  (SAVEPOINT, RELEASE and ROLLBACK TO stay inside it, and are fine).
- `session-set`: a SET that changes nothing. Every step, undo and check starts from the
  same session state, so a session SET lasts exactly until its step ends: harmless before
  the statements it is for (`set lock_timeout = '2s'; alter table ...`), useless with
  nothing after it in its step. SET LOCAL in a text that runs outside a transaction
  (`autocommit: true`: each statement on its own) does nothing either.
- `ban-concurrent-index-creation-in-transaction`: CREATE/DROP INDEX and REINDEX
  CONCURRENTLY (`REINDEX (CONCURRENTLY) ...` too) cannot run in a transaction block.
- `cannot-run-in-transaction`: the other statements PostgreSQL refuses in a transaction
  block (VACUUM, CREATE/DROP DATABASE, ALTER SYSTEM, ... `_NO_BLOCK`).
- `whole-table-write`: an UPDATE or DELETE with no WHERE, outside a backfill.
- `rls-without-lock-timeout`: CREATE/ALTER/DROP POLICY and ALTER TABLE ... ROW LEVEL
  SECURITY take ACCESS EXCLUSIVE on the table; without a step `lock_timeout` of its own
  the step waits the default 5s, and every query on the table queues behind it.
- `lock-timeout-ignored`: `lock_timeout` on a step kind that takes no database lock.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

from migrator.db.checksql import Word
from migrator.lint.blocks import concurrent_head, no_block
from migrator.lint.findings import LintFinding, LintRule, PathKey, SqlText
from migrator.lint.sqlwords import Made, new_at

if TYPE_CHECKING:
    from migrator.lint.linted import LintedStep

UNDEFINED = "undefined-bind-variable"
GENERATED_PARAMETER = "parameter-in-generated-sql"
NESTING = "transaction-nesting"
SESSION_SET = "session-set"
CONCURRENT_IN_TX = "ban-concurrent-index-creation-in-transaction"
NO_BLOCK = "cannot-run-in-transaction"
WHOLE_TABLE = "whole-table-write"
RLS_LOCK = "rls-without-lock-timeout"
LOCK_IGNORED = "lock-timeout-ignored"

RULES: tuple[LintRule, ...] = (
    LintRule(
        UNDEFINED,
        "a `:name` parameter that no plan variable defines",
        "declare it under `vars:` (or correct its name)",
    ),
    LintRule(
        GENERATED_PARAMETER,
        "a `:name` parameter in SQL an action generates (a policy's `using`), which it runs "
        "with no parameters",
        "write the value into the expression as a literal; for a value known only at run "
        "time, read a setting (`current_setting('app.owner')`): plan variables reach SQL only "
        "as the bound parameters of `sql` and `backfill` steps",
    ),
    LintRule(
        NESTING,
        "transaction control inside a step that runs in a transaction",
        "leave it out: each step is its own transaction; split the work into steps, or give "
        "statements that must run outside a transaction a step with `autocommit: true`",
    ),
    LintRule(
        SESSION_SET,
        "a SET that changes nothing: last in its step (each step starts from a clean "
        "session), or SET LOCAL outside a transaction block",
        "put the SET in the step that needs it, before the statements it is for (it lasts "
        "until that step ends)",
    ),
    LintRule(
        CONCURRENT_IN_TX,
        "CONCURRENTLY in a step that runs in a transaction",
        "set `autocommit: true` on this step (a step of its own for the concurrent build)",
    ),
    LintRule(
        NO_BLOCK,
        "a statement PostgreSQL refuses inside a transaction block (VACUUM, CREATE DATABASE, "
        "ALTER SYSTEM, DETACH PARTITION CONCURRENTLY, ...) in a step that runs in one",
        "give it a step of its own with `autocommit: true`",
    ),
    LintRule(
        WHOLE_TABLE,
        "an UPDATE or DELETE of every row of a table in one statement",
        "do it in a `backfill` step (batches by key, each its own short transaction); or "
        "add the WHERE that was meant",
    ),
    LintRule(
        RLS_LOCK,
        "row level security DDL (ACCESS EXCLUSIVE) in a step with no `lock_timeout`",
        "give the step a short `lock_timeout` (e.g. 1s) and `retries`, so that it gives "
        "way to the application's queries and tries again",
    ),
    LintRule(
        LOCK_IGNORED,
        "`lock_timeout` on a step kind that takes no database lock",
        "remove it: this kind of step has nothing for it to time",
    ),
)

_ENDS = {"commit", "end", "rollback", "abort"}
_OPEN = Word("punct", "(")
_CLOSE = Word("punct", ")")
_SESSION_KEEPS = {"local", "transaction", "constraints"}
_RLS_VERBS = {"create", "alter", "drop"}


def check(step: LintedStep) -> Iterator[LintFinding]:
    """Every finding of these rules in one step."""
    if step.step.lock_timeout is not None and not step.spec.honours_lock_timeout:
        yield LintFinding(
            LOCK_IGNORED,
            f"`lock_timeout` on a `{step.key}` step does nothing: it takes no database lock "
            "that migrator could time",
            ("lock_timeout",),
        )
    listed = list(step.statements())
    last_work = max(
        (n for n, (_, s) in enumerate(listed) if _word(s, 0) not in ("set", "reset", "")),
        default=-1,
    )
    own, made = Made(), None  # what this step makes; what is new at it (read when asked)

    def new(table: str) -> bool:
        nonlocal made
        made = made or new_at(step)
        return own.table(table) or made.table(table)

    seen: dict[PathKey, set[str]] = {}  # the parameters reported, by text
    for n, (text, statement) in enumerate(listed):
        yield from _parameters(step, text, statement, seen.setdefault(text.path, set()))
        first = _word(statement, 0)
        if not first:
            continue
        if text.in_transaction:
            yield from _in_transaction(text, statement)
        if first == "set":
            yield from _set(text, statement, after=n < last_work)
        if first in ("update", "delete", "with") and not text.batched:
            yield from _whole_table(text, statement, new)
        if step.step.lock_timeout is None and first in _RLS_VERBS:
            yield from _rls(text, statement, new)
        if first == "create":
            own.read(statement)  # a table this step creates is new for its later statements


def _set(text: SqlText, statement: Sequence[Word], after: bool) -> Iterator[LintFinding]:
    """A session SET with nothing after it in its step; SET LOCAL where each statement is a
    transaction of its own."""
    second = _word(statement, 1)
    if second == "local" and not text.in_transaction:
        yield _found(
            SESSION_SET,
            f"`{_shown(text, statement)}` does nothing: this text runs outside a transaction "
            "(`autocommit: true`, each statement on its own), where SET LOCAL ends with the "
            "statement itself",
            text,
            statement[0],
            "use a plain SET, before the statements it is for: it lasts until the step ends "
            "(or the step's `lock_timeout`, for lock_timeout)",
        )
    elif second not in _SESSION_KEEPS and not after:
        yield _found(
            SESSION_SET,
            f"`{_shown(text, statement)}` changes nothing: no statement runs after it in "
            "this step, and the next step starts from a clean session",
            text,
            statement[0],
        )


def _parameters(
    step: LintedStep, text: SqlText, statement: Sequence[Word], seen: set[str]
) -> Iterator[LintFinding]:
    """The parameters of `statement` no one binds, each name once per text (`seen`)."""
    if text.generated:
        for w in statement:
            if w.kind == "other" and w.value.startswith(":") and len(w.value) >= 2:
                if w.value in seen:
                    continue
                seen.add(w.value)
                yield _found(
                    GENERATED_PARAMETER,
                    f"`{w.value}` in the SQL the `{step.key}` step generates is sent as "
                    "written: its DDL takes no bind parameters, so the step fails with a "
                    "syntax error when it runs",
                    text,
                    w,
                )
        return
    for w, message in unbound(statement, step.variables | text.binds, seen=seen):
        yield _found(UNDEFINED, message, text, w)


_HINTED = 20
"""Undefined names per text that get a "did you mean" (difflib over every variable)."""
_LISTED = 12
"""Variables named in a message, at most."""


def unbound(
    statement: Sequence[Word],
    known: frozenset[str],
    what: str = "step",
    seen: set[str] | None = None,
) -> Iterator[tuple[Word, str]]:
    """Each `:name` parameter of a statement that `known` does not define, with the
    reason (`validate` reads checks' SQL with it too); with `seen`, each name once (the
    names already reported are in it, and are added to it)."""
    seen = set() if seen is None else seen
    for w in statement:
        if w.kind != "other" or not w.value.startswith(":") or len(w.value) < 2:
            continue
        name = w.value[1:]
        if name in known or name in seen:
            continue
        seen.add(name)
        close = _close(name, known) if len(seen) <= _HINTED else ""
        hint = f" (did you mean `:{close}`?)" if close else ""
        yield (
            w,
            f"`:{name}` names no plan variable{hint}: the {what} fails when it runs "
            f"(variables: {_listed(known)})",
        )


@lru_cache(maxsize=4096)
def _close(name: str, known: frozenset[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return close[0] if close else ""


@lru_cache(maxsize=64)
def _listed(known: frozenset[str]) -> str:
    names = sorted(known)
    shown = ", ".join(names[:_LISTED]) or "none"
    return shown + (f", ... ({len(names)} in all)" if len(names) > _LISTED else "")


def _in_transaction(text: SqlText, statement: Sequence[Word]) -> Iterator[LintFinding]:
    first, second = _word(statement, 0), _word(statement, 1)
    control = None
    if first == "begin" or (first == "start" and second == "transaction"):
        control = f"{first} {second}".strip() if first == "start" else first
    elif first in _ENDS and second != "to" and _word(statement, 2) != "to":
        control = first if second != "prepared" else f"{first} prepared"
    elif first == "prepare" and second == "transaction":
        control = "prepare transaction"
    if control is not None:
        yield _found(
            NESTING,
            f"{control.upper()} in a step that runs in a transaction: migrator opens and "
            "commits that transaction itself, with the step's record; ended early, the step "
            "is no longer all or nothing",
            text,
            statement[0],
        )
    head = concurrent_head(statement)
    if head:
        yield _found(
            CONCURRENT_IN_TX,
            f"{head} cannot run inside a transaction: this step fails every time it runs",
            text,
            statement[0],
        )
        return
    refused = no_block(statement)
    if refused:
        yield _found(
            NO_BLOCK,
            f"{refused} cannot run inside a transaction block, and this step runs in one: it "
            "fails every time it runs",
            text,
            statement[0],
        )


def _whole_table(
    text: SqlText, statement: Sequence[Word], new: Callable[[str], bool]
) -> Iterator[LintFinding]:
    """Each UPDATE or DELETE with no WHERE of its own: the statement itself, the one after
    a WITH, or one inside a WITH's parentheses (`with m as (delete from t returning *)`)."""
    for i in _write_heads(statement):
        verb = statement[i].value
        start = i + 2 if verb == "delete" and _word(statement, i + 1) == "from" else i + 1
        if _word(statement, start) == "only":
            start += 1
        table = _qualified(statement, start)
        if table and new(table):
            continue  # new in this transition: no client reads it yet
        yield _found(
            WHOLE_TABLE,
            f"{verb.upper()} with no WHERE writes every row of {table or 'the table'} in one "
            "transaction: each row stays locked until the step commits, and the table and "
            "its replicas take the whole write at once",
            text,
            statement[i],
        )


def _write_heads(statement: Sequence[Word], at_most: int = 16) -> Iterator[int]:
    """Where an UPDATE or DELETE without a WHERE at its own level starts: at the statement's
    start, right after a WITH's `)` or inside a `(` (ON CONFLICT DO UPDATE, FOR UPDATE, ON
    DELETE are none); the first `at_most` only, so a hostile text costs little."""
    with_ = _word(statement, 0) == "with"
    seen = 0
    for i, w in enumerate(statement):
        if w.kind != "word" or w.value not in ("update", "delete"):
            continue
        before = statement[i - 1] if i else None
        if before is not None and not (before == _OPEN or (with_ and before == _CLOSE)):
            continue
        seen += 1
        if seen > at_most:
            return
        depth = 0
        for later in statement[i + 1 :]:
            if later in (_OPEN, _CLOSE):
                depth += 1 if later == _OPEN else -1
                if depth < 0:
                    break
            elif depth == 0 and later.kind == "word" and later.value == "where":
                break
        else:
            yield i
            continue
        if depth < 0:
            yield i


def _rls(
    text: SqlText, statement: Sequence[Word], new: Callable[[str], bool]
) -> Iterator[LintFinding]:
    first, second = _word(statement, 0), _word(statement, 1)
    table = ""
    what = ""
    if first in _RLS_VERBS and second == "policy":
        i = next((i for i, w in enumerate(statement) if w.kind == "word" and w.value == "on"), -1)
        if i < 0:
            return
        table = _qualified(statement, i + 2 if _word(statement, i + 1) == "only" else i + 1)
        what = f"{first} policy".upper()
    elif first == "alter" and second == "table" and _has_row_level_security(statement):
        i = 2
        while _word(statement, i) in ("if", "exists", "only"):
            i += 1
        table = _qualified(statement, i)
        what = "ALTER TABLE ... ROW LEVEL SECURITY"
    if not table or new(table):
        return  # a table new in this transition: no query waits on it
    yield LintFinding(
        RLS_LOCK,
        f"{what} takes ACCESS EXCLUSIVE on {table}: while it waits for that lock every query "
        f"on {table} queues behind it, for as long as the default lock_timeout (5s)",
        () if text.generated else text.path,
        None if text.generated else statement[0].at,
        trace=(table, "AccessExclusiveLock"),
    )


def _has_row_level_security(statement: Sequence[Word]) -> bool:
    values = [w.value if w.kind == "word" else "" for w in statement]
    return any(values[i : i + 3] == ["row", "level", "security"] for i in range(len(values)))


def _found(rule: str, message: str, text: SqlText, word: Word, safe: str = "") -> LintFinding:
    """A finding at `word` of `text` (at the step, for generated SQL)."""
    if text.generated:
        return LintFinding(rule, message, safe=safe)
    return LintFinding(rule, message, text.path, word.at, safe)


def _word(statement: Sequence[Word], i: int) -> str:
    return statement[i].value if i < len(statement) and statement[i].kind == "word" else ""


_PLAIN = re.compile(r"[a-z_][a-z0-9_$]*")


def _qualified(statement: Sequence[Word], i: int) -> str:
    """The (perhaps schema-qualified) name from word `i` on, as written; '' if none."""
    parts: list[str] = []
    while i < len(statement) and statement[i].kind in ("word", "ident"):
        w = statement[i]
        plain = w.kind == "word" or _PLAIN.fullmatch(w.value)  # "public" is public
        parts.append(w.value if plain else '"' + w.value.replace('"', '""') + '"')
        if i + 1 < len(statement) and statement[i + 1].value == ".":
            i += 2
            continue
        break
    return ".".join(parts)


def _shown(text: SqlText, statement: Sequence[Word]) -> str:
    """The statement as written, on one line, cut at 60 characters."""
    start = statement[0].at
    end = text.text.find(";", statement[-1].at)
    body = text.text[start : end if end >= 0 else len(text.text)]
    return " ".join(body.split())[:60]
