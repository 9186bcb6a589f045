"""Scenarios of features/report, run for real through the command line."""

from pytest_bdd import scenarios

from tests.bdd.page_steps import *  # noqa: F403  (a page as a reader sees it)

scenarios("report")
