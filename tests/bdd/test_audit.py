"""Scenarios of features/audit, run for real against PostgreSQL."""

from pytest_bdd import scenarios

scenarios("audit")
