"""Scenarios of features/approvals, run for real against PostgreSQL."""

from pytest_bdd import scenarios

from tests.bdd.terminal_steps import *  # noqa: F403  (a command at a terminal, answering)

scenarios("approvals")
