"""Scenarios of features/lint, run for real against PostgreSQL (squawk's scenarios with
the real squawk: the `lint` extra)."""

from pytest_bdd import scenarios

scenarios("lint")
