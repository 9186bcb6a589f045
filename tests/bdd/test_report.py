"""Scenarios of features/report, run for real through the command line."""

from pytest_bdd import scenarios

scenarios("report")
