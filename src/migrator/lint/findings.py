"""What lint works with: the rules (`LintRule`), what a rule finds (`LintFinding`), and the SQL a
step sends, as its action tells it (`SqlText`). Plugins use all three (`migrator.plugin`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

PathKey = tuple[str | int, ...]


@dataclass(frozen=True)
class LintRule:
    """A lint rule: its stable `id` (kebab-case; squawk's ids where squawk has the rule),
    what it is about in one line (`title`), and the safe way to do the same (`safe`)."""

    id: str
    title: str
    safe: str
    origin: Literal["migrator", "squawk"] = "migrator"


@dataclass(frozen=True)
class LintFinding:
    """One thing a rule found in one step.

    - `path`: where, below the step (`("sql",)`, `("backfill", "statement")`); empty for
      the step's action key itself (SQL the action generates has no place in the file).
    - `offset`: the character in the text at `path` where it starts (a statement's first
      word), or None for the text as a whole.
    - `message`: the one-line reason; `safe`: the safe way, when it says more than the
      rule's own.
    - `trace`: what a rehearsal's trace can confirm or refute, if anything: the relation
      and the lock mode (`AccessExclusiveLock`) or `rewrite` the finding predicts.
    """

    rule: str
    message: str
    path: PathKey = ()
    offset: int | None = None
    safe: str = ""
    trace: tuple[str, str] | None = None


@dataclass(frozen=True)
class SqlText:
    """One SQL text a step sends, for lint: where it is in the step (`path`, e.g.
    `("sql",)`), the text, and how it runs.

    - `in_transaction`: whether the text runs inside a transaction migrator opened.
    - `binds`: the `:name` parameters the action itself provides (a backfill's `:lo` and
      `:hi`); every other one must be a plan variable.
    - `batched`: the text runs once per batch of a keyset walk (a whole-table UPDATE is
      then not one).
    - `generated`: SQL the action builds from its keys (a `policy` step's CREATE POLICY):
      findings point at the step, not into a text of the file.
    - `expression`: a SQL expression, not statements (a backfill's `where`): read for its
      parameters; squawk, which parses statements, is not given it.
    """

    path: PathKey
    text: str
    in_transaction: bool = True
    binds: frozenset[str] = field(default_factory=frozenset)
    batched: bool = False
    generated: bool = False
    expression: bool = False
