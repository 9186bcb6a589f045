"""Built-in plugin: the `flag` action and the `flag_is` check."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import migrator
from migrator import ActionSpec, CheckSpec


@migrator.hookimpl
def migrator_register_actions(register: Callable[[ActionSpec], None]) -> None:
    from . import flag

    register(
        ActionSpec(
            key="flag",
            config=flag.FlagSetting,
            run=flag.run,
            undo=flag.undo,
            describe=flag.describe,
            transactional=flag.in_transaction,
            summary="set a feature flag {name, value}; undone by restoring its earlier value",
        )
    )


@migrator.hookimpl
def migrator_register_checks(register: Callable[[CheckSpec], None]) -> None:
    from . import flag

    register(
        CheckSpec(
            key="flag_is",
            config=flag.FlagSetting,
            evaluate=flag.evaluate,
            describe=flag.describe_check,
            expect_required=False,
            accepts_expect=False,
            summary="the flag {name} holds {value}",
        )
    )


@migrator.hookimpl
def migrator_flag_store(location: str, plan_file: str | None) -> Any:
    from .stores import store_for

    return store_for(location, plan_file)
