"""A step as lint rules see it (`LintedStep`), and what a module of rules is (`RuleSet`):
apart from the runner, so that the rule modules the runner lists import this, not it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

from migrator.db.checksql import Word, words
from migrator.lint.findings import LintFinding, LintRule, SqlText

if TYPE_CHECKING:
    from migrator.plan.model import Transition
    from migrator.plugin.registry import ActionSpec, Registry


@dataclass(frozen=True)
class LintedStep:
    """A step as the rules see it: what it is, how it runs, the SQL it sends."""

    step: Any
    key: str
    label: str
    transition: Transition
    spec: ActionSpec
    in_transaction: bool
    texts: tuple[SqlText, ...]
    variables: frozenset[str]
    """The plan's variables (`vars`): the `:name` parameters any text may use."""
    undo_of: str | None = None
    """The label of the step this one undoes (a `rollback` step), or None."""
    registry: Registry | None = None
    """The actions of the plan's other steps (their SQL texts), for rules that look back."""

    def statements(self) -> Iterator[tuple[SqlText, list[Word]]]:
        """Each statement of each SQL text, as words with their offsets in the text (read
        once per step, however many modules of rules ask)."""
        return iter(self._statements)

    @cached_property
    def _statements(self) -> tuple[tuple[SqlText, list[Word]], ...]:
        return tuple((text, statement) for text in self.texts for statement in words(text.text))


class RuleSet(Protocol):
    """A module of rules: what it knows (`RULES`) and what it finds in a step (`check`)."""

    RULES: tuple[LintRule, ...]

    def check(self, step: LintedStep) -> Iterable[LintFinding]: ...
