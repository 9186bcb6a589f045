"""Scenarios of features/plans, run for real against PostgreSQL."""

from pytest_bdd import scenarios

scenarios("plans")
