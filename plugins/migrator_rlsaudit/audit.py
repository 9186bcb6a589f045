"""The `rls_audit` check: the findings of `migrator audit rls`, as a check in a plan.

It passes when the audit finds nothing in the schemas (and tables, and kinds) it is
given. `expect`, when given, is compared with the number of findings instead
(`expect: "<= 2"`). A table or schema named that does not exist fails the check:
a typo must not pass as "no holes".
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from migrator import CheckContext, CheckOutcome
from migrator.plugin import (
    Comparison,
    Finding,
    FindingKind,
    find_rls_holes,
    missing_schemas,
    missing_tables,
    select_findings,
    split_table,
)

SHOWN = 3
"""How many findings the check's actual value names (the detail lists them all)."""


class RlsAuditConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schemas: list[str] = Field(
        default_factory=lambda: ["public"],
        min_length=1,
        description="the schemas audited, also the exposed ones for exposed_without_rls",
    )
    tables: list[str] | None = Field(
        None,
        min_length=1,
        description="only these tables (`t` in any of the schemas, or `schema.t`)",
    )
    kinds: list[FindingKind] | None = Field(
        None,
        min_length=1,
        description="only these kinds: rls_without_policy, allow_all_policy, exposed_without_rls",
    )


def describe(check: Any) -> str:
    c = check.rls_audit
    scope = f"schemas {', '.join(c.schemas)}"
    if c.tables:
        scope += f", tables {', '.join(c.tables)}"
    kinds = ", ".join(c.kinds) if c.kinds else "any kind"
    return f"RLS audit of {scope}: {_expected(check.expect)} ({kinds})"


def _expected(expectation: Any) -> str:
    return "no findings" if expectation is None else f"number of findings {expectation}"


def _short(finding: Finding) -> str:
    policy = f" policy {finding.policy!r}" if finding.policy else ""
    return f"{finding.kind} {finding.qualified_table}{policy}"


def _actual(findings: list[Finding]) -> str:
    if not findings:
        return "0 findings"
    shown = "; ".join(_short(f) for f in findings[:SHOWN])
    more = f"; and {len(findings) - SHOWN} more" if len(findings) > SHOWN else ""
    return f"{len(findings)} finding{'s' if len(findings) != 1 else ''}: {shown}{more}"


def evaluate(ctx: CheckContext, check: Any) -> CheckOutcome:
    c = check.rls_audit
    expected = _expected(check.expect)
    if check.expect is not None and not isinstance(check.expect, Comparison):
        return CheckOutcome(
            False, None, expected, "rls_audit compares the number of findings: use a value"
        )
    conn = ctx.connection
    qualified = [s for s, _ in map(split_table, c.tables or []) if s is not None]
    schemas = list(dict.fromkeys([*c.schemas, *qualified]))
    unknown = missing_schemas(conn, schemas)
    if unknown:
        return CheckOutcome(False, None, expected, f"no such schema: {', '.join(unknown)}")
    if c.tables:
        absent = missing_tables(conn, c.tables, c.schemas)
        if absent:
            return CheckOutcome(False, None, expected, f"no such table: {', '.join(absent)}")
    findings = select_findings(find_rls_holes(conn, schemas), c.tables, c.kinds)
    passed = not findings if check.expect is None else check.expect.test(len(findings))
    return CheckOutcome(passed, _actual(findings), expected, "\n".join(map(str, findings)))
