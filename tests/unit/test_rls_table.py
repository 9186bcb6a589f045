"""`migrator audit rls` as a table that fits the terminal: at 40 to 120 columns no line is
wider than the terminal, every word of each finding's detail is there (wrapped inside its
column, or under 70 columns under the finding: rich crops what it cannot fit), and names
are shown as text: no markup read in them, no control character sent to the terminal."""

from __future__ import annotations

import io
import re

import pytest
from rich.cells import cell_len

from migrator.rls.holes import Finding, summary_line
from migrator.views.rlsaudit import STACKED_BELOW, render_findings
from migrator.views.values import visible

LONG_POLICY = "Allow every authenticated user to read and write the scoring results"
HOSTILE_TABLE = "[bold]scoring_\x1b[2Jresults_functions_for_the_long_running_assessments"

FINDINGS = [
    Finding(
        kind="rls_without_policy",
        schema="public",
        table="profiles",
        policy=None,
        roles=(),
        detail="row level security is on and there is no policy: every role but the owner "
        "and BYPASSRLS roles reads no rows and has every write refused",
        severity="error",
    ),
    Finding(
        kind="allow_all_policy",
        schema="public",
        table=HOSTILE_TABLE,
        policy=LONG_POLICY,
        roles=("anon", "authenticated"),
        detail="permissive policy for ALL to anon, authenticated with USING (true) and WITH "
        "CHECK (true): every row is let through",
        severity="warning",
    ),
    Finding(
        kind="exposed_without_rls",
        schema="public",
        table="fc_scores",
        policy=None,
        roles=("anon", "authenticated"),
        detail="row level security is off and anon can SELECT, INSERT, UPDATE, DELETE; "
        "authenticated can SELECT, INSERT, UPDATE, DELETE: every row is open to them",
        severity="warning",
    ),
]


def table(width: int, *, terminal: bool = False) -> str:
    out = io.StringIO()
    if terminal:
        out.isatty = lambda: True  # type: ignore[method-assign]
    render_findings(FINDINGS, summary_line(FINDINGS), out, width=width)
    return out.getvalue()


@pytest.mark.parametrize("width", [40, 50, 60, 69, 70, 71, 72, 80, 120])
def test_the_table_fits_the_terminal_and_keeps_every_word(width: int) -> None:
    text = table(width)
    lines = text.splitlines()
    assert max(cell_len(line) for line in lines) <= width, text
    assert len(lines) > len(FINDINGS) + 2  # the details wrapped onto lines of their own
    for finding in FINDINGS:
        assert finding.kind in text
        for word in finding.detail.split():
            assert word in text, f"{word!r} of {finding.kind}'s detail is missing"
    assert lines[-1] == "3 findings: 1 error, 2 warnings"
    if width >= STACKED_BELOW:
        assert lines[0].split() == ["SEVERITY", "FINDING", "DETAIL"]
        return
    assert lines[0] == "error rls_without_policy"  # stacked: a finding, then its lines
    squeezed = re.sub(r"\s+", "", text)  # a name longer than the line is folded, not cut
    for name in (f"public.{visible(HOSTILE_TABLE)}", LONG_POLICY):
        assert re.sub(r"\s+", "", name) in squeezed
    assert "…" not in text


def test_names_are_text_not_markup_nor_escape_codes() -> None:
    text = table(200, terminal=True)
    assert "\x1b[2J" not in text  # the table name's escape sequence is not sent as one
    assert "\\x1b[2J" in text.replace("\x1b[0m", "").replace("\x1b[1m", "")
    plain = table(200)
    assert "[bold]scoring_" in plain  # shown literally, not read as rich markup
    assert f"policy {LONG_POLICY}" in plain
    assert "roles anon, authenticated" in plain


def test_the_severity_is_coloured_on_a_terminal_and_plain_in_a_pipe() -> None:
    coloured = table(120, terminal=True)
    assert "\x1b[1;31merror" in coloured
    assert "\x1b[" not in table(120)
