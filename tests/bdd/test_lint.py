"""Scenarios of features/lint, run for real."""

from pytest_bdd import scenarios

scenarios("lint")
