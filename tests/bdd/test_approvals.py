"""Scenarios of features/approvals, run for real against PostgreSQL."""

from pytest_bdd import scenarios

scenarios("approvals")
