"""Scenarios of features/resume, run for real against PostgreSQL."""

from pytest_bdd import scenarios

scenarios("resume")
