"""The demo database: a Supabase-like project with the scoring schema of the incidents."""

from __future__ import annotations

from importlib import resources


def sql_text(name: str) -> str:
    """One of the demo's SQL files, shipped as package data."""
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
