"""Scenarios of features/status, run for real through the command line."""

from pytest_bdd import scenarios

scenarios("status/status_history.feature")
