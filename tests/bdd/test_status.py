"""Scenarios of features/status, run for real through the command line."""

from pytest_bdd import scenarios

from tests.bdd.status_live_steps import *  # noqa: F403  (the steps of live.feature)

scenarios("status")
