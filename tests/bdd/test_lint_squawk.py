"""Scenarios of features/lint/squawk.feature: squawk's findings in the plan's lines, and
validate reading the target (--dsn). Run with the real squawk (the `lint` extra)."""

from pytest_bdd import scenarios

scenarios("lint/squawk.feature")
