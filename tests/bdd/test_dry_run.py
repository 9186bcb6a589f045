"""Scenarios of features/dry_run, run for real against PostgreSQL."""

from pytest_bdd import scenarios

scenarios("dry_run")
