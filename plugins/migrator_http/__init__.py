"""Built-in plugin: the `http` action and the `http` check."""

from __future__ import annotations

from collections.abc import Callable

import migrator
from migrator import ActionSpec, CheckSpec


@migrator.hookimpl
def migrator_register_actions(register: Callable[[ActionSpec], None]) -> None:
    from . import http

    register(
        ActionSpec(
            key="http",
            honours_lock_timeout=False,
            config=http.Request,
            run=http.run,
            undo=http.undo,
            describe=http.describe,
            transactional=False,  # recorded right after the call: a crash in between repeats it
            reaches_outside=True,
            summary="call an HTTP endpoint {method, url, headers, json}; a non-2xx answer fails",
        )
    )


@migrator.hookimpl
def migrator_register_checks(register: Callable[[CheckSpec], None]) -> None:
    from . import http

    register(
        CheckSpec(
            key="http",
            config=http.Request,
            evaluate=http.evaluate,
            describe=http.describe,
            expect=http.ResponseExpectation,
            reaches_outside=True,
            summary="call an HTTP endpoint and compare status and a subset of its JSON",
        )
    )
