"""Scenarios of features/backfill, run for real against PostgreSQL."""

from pytest_bdd import scenarios

scenarios("backfill")
