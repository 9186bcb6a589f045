"""Scenarios of features/phases, run for real against PostgreSQL."""

from pytest_bdd import scenarios

scenarios("phases")
