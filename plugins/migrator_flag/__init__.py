"""Built-in plugin: the `flag` action and the `flag_is` check."""

from __future__ import annotations

from collections.abc import Callable

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
            summary="the flag {name} holds {value}",
        )
    )
