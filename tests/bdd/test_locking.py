"""Scenarios of features/locking, run for real against PostgreSQL."""

from pytest_bdd import scenarios

scenarios("locking")
