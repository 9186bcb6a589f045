"""Built-in plugin: row level security: the `policy` and `rls` actions, the
`policy_exists` and `rls_probe` checks."""

from __future__ import annotations

from collections.abc import Callable

import migrator
from migrator import ActionSpec, CheckSpec


@migrator.hookimpl
def migrator_register_actions(register: Callable[[ActionSpec], None]) -> None:
    from . import lint, policy

    register(
        ActionSpec(
            key="policy",
            config=policy.PolicyConfig,
            run=policy.run,
            undo=policy.undo,
            describe=policy.describe,
            sql_texts=lint.policy_sql_texts,
            language="sql",
            summary=(
                "create or replace an RLS policy; undone by restoring the earlier definition "
                "exactly, roles included, only if the policy is still as the step left it"
            ),
        )
    )
    register(
        ActionSpec(
            key="rls",
            config=policy.RlsConfig,
            run=policy.run_rls,
            undo=policy.undo_rls,
            describe=policy.describe_rls,
            sql_texts=lint.rls_sql_texts,
            language="sql",
            summary=(
                "enable, disable or force row level security on a table; undone by the earlier "
                "setting, only if it is still as the step left it"
            ),
        )
    )


@migrator.hookimpl
def migrator_register_checks(register: Callable[[CheckSpec], None]) -> None:
    from . import policy, probe

    register(
        CheckSpec(
            key="policy_exists",
            config=policy.PolicyExpectation,
            evaluate=policy.evaluate_exists,
            describe=policy.describe_exists,
            sql_texts=policy.exists_sql_texts,
            expect_required=False,
            accepts_expect=False,
            summary="a policy {table, name} exists; optionally its command, roles, expressions",
        )
    )
    register(
        CheckSpec(
            key="rls_probe",
            config=probe.ProbeConfig,
            evaluate=probe.evaluate_probe,
            describe=probe.describe_probe,
            expect=probe.ProbeVerdict,
            sql_texts=probe.sql_texts,
            writes=probe.writes,
            summary="try SQL as a role with JWT claims in a transaction that is rolled back",
        )
    )
