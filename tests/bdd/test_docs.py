"""Scenarios of features/docs, run for real through the command line."""

from pytest_bdd import scenarios

scenarios("docs")
