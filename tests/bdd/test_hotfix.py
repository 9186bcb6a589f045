"""Scenarios of features/hotfix, run for real against PostgreSQL."""

from pytest_bdd import scenarios

scenarios("hotfix")
