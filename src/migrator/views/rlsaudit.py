"""`migrator audit rls` as text: a table that fits the terminal, each finding's detail
wrapped inside its column; under `STACKED_BELOW` columns (a split pane, a phone's ssh
client) a finding a few lines each instead, its detail wrapped at an indent, as three
columns would leave the detail too narrow to read or push it past the edge.

Three columns: the severity, the finding (its kind, the table, and the policy and roles
when there are any, one to a line) and the detail. Only the detail column stretches;
names longer than their column fold rather than push the table wider, and names are shown
as text (no markup read in them, control characters escaped). The width is the
console's: the terminal's, COLUMNS, or 80 when the output is not a terminal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO, Protocol

from rich import box
from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from migrator.views.console import Unpadded
from migrator.views.values import shown

_STYLE = {"error": "bold red", "warning": "yellow"}
STACKED_BELOW = 70  # columns: narrower, each finding stacked rather than a table row


class ShownFinding(Protocol):
    """What the table shows of a finding (`migrator.rls.holes.Finding`)."""

    @property
    def severity(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def qualified_table(self) -> str: ...
    @property
    def policy(self) -> str | None: ...
    @property
    def roles(self) -> tuple[str, ...]: ...
    @property
    def detail(self) -> str: ...


def _what(finding: ShownFinding) -> list[str]:
    """The finding column: its kind, the table, and the policy and roles if any."""
    what = [finding.kind, shown(finding.qualified_table)]
    if finding.policy is not None:
        what.append(f"policy {shown(finding.policy)}")
    if finding.roles:
        what.append(f"roles {', '.join(shown(r) for r in finding.roles)}")
    return what


def findings_stacked(findings: Sequence[ShownFinding]) -> RenderableType:
    """Each finding on lines of its own: `SEVERITY KIND`, then indented its table, policy,
    roles and detail, each wrapped (a name longer than the line folded, never cut)."""
    parts: list[RenderableType] = []
    for number, finding in enumerate(findings):
        if number:
            parts.append(Text())
        kind, *rest = _what(finding)
        head = Text(finding.severity, style=_STYLE.get(finding.severity, ""))
        head.append(f" {kind}")
        parts.append(head)
        for line in [*rest, shown(finding.detail)]:
            parts.append(Padding(Text(line, overflow="fold"), (0, 0, 0, 2)))
    return Group(*parts)


def findings_table(findings: Sequence[ShownFinding]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, header_style="bold", show_edge=False)
    table.add_column("SEVERITY", no_wrap=True)
    table.add_column("FINDING", overflow="fold")
    table.add_column("DETAIL", overflow="fold")  # a minimum width: rich crops it
    for number, finding in enumerate(findings):
        if number:
            table.add_row()  # a blank line between findings
        table.add_row(
            Text(finding.severity, style=_STYLE.get(finding.severity, "")),
            Text("\n".join(_what(finding))),
            Text(shown(finding.detail)),
        )
    return table


def render_findings(
    findings: Sequence[ShownFinding], summary: str, out: IO[str], width: int | None = None
) -> None:
    """The table of `findings` (none: nothing) and the `summary` line, printed on `out`
    (`width`: the console's own when None)."""
    console = Console(file=out, highlight=False, width=width)
    if findings:
        stacked = console.width < STACKED_BELOW
        console.print(Unpadded(findings_stacked(findings) if stacked else findings_table(findings)))
    console.print(Text(summary))
