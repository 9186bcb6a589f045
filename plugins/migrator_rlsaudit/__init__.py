"""Built-in plugin: the `rls_audit` check (no RLS holes in the schemas or tables named)."""

from __future__ import annotations

from collections.abc import Callable

import migrator
from migrator import CheckSpec


@migrator.hookimpl
def migrator_register_checks(register: Callable[[CheckSpec], None]) -> None:
    from . import audit

    register(
        CheckSpec(
            key="rls_audit",
            config=audit.RlsAuditConfig,
            evaluate=audit.evaluate,
            describe=audit.describe,
            expect_required=False,
            summary="no RLS holes (tables with RLS and no policy, allow-all policies, exposed "
            "tables without RLS) in {schemas}, optionally only {tables} and {kinds}",
        )
    )
