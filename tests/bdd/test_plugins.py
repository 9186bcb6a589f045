"""Scenarios of features/plugins, run for real through the command line."""

from pytest_bdd import scenarios

scenarios("plugins")
