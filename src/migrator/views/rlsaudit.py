"""`migrator audit rls` as text: a table that fits the terminal, each finding's detail
wrapped inside its column.

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
from rich.console import Console
from rich.table import Table
from rich.text import Text

from migrator.views.values import shown

_STYLE = {"error": "bold red", "warning": "yellow"}


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


def visible(name: str) -> str:
    """A catalog name on one line as a person can read it: control characters as `\\xNN`."""
    return shown(name)


def findings_table(findings: Sequence[ShownFinding]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, header_style="bold", show_edge=False)
    table.add_column("SEVERITY", no_wrap=True)
    table.add_column("FINDING", overflow="fold")
    table.add_column("DETAIL", overflow="fold", min_width=30)
    for number, finding in enumerate(findings):
        if number:
            table.add_row()  # a blank line between findings
        what = [finding.kind, visible(finding.qualified_table)]
        if finding.policy is not None:
            what.append(f"policy {visible(finding.policy)}")
        if finding.roles:
            what.append(f"roles {', '.join(visible(r) for r in finding.roles)}")
        table.add_row(
            Text(finding.severity, style=_STYLE.get(finding.severity, "")),
            Text("\n".join(what)),
            Text(visible(finding.detail)),
        )
    return table


def render_findings(
    findings: Sequence[ShownFinding], summary: str, out: IO[str], width: int | None = None
) -> None:
    """The table of `findings` (none: nothing) and the `summary` line, printed on `out`
    (`width`: the console's own when None)."""
    console = Console(file=out, highlight=False, width=width)
    if findings:
        console.print(findings_table(findings))
    console.print(Text(summary))
