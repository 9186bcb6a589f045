"""Scenarios of features/checks, run for real against PostgreSQL."""

from pytest_bdd import scenarios

scenarios("checks")
