"""Scenarios of features/undo, run for real against PostgreSQL."""

from pytest_bdd import scenarios

scenarios("undo")
