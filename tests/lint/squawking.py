"""What the squawk tests share: a plan whose SQL squawk has things to say about, and a
program standing in for squawk."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

PLAN = """\
plan: widgets
phases: [before, after]
vars: {owner: ops}
transitions:
  - name: go
    from: before
    to: after
    steps:
      - name: index
        sql: |
          select 'ééé' where :owner = 'x';  create index i on widgets (owner);
          \tcreate index j on widgets (owner);
      - name: serial
        sql: alter table widgets add column n serial
        rollback:
          - sql: "select 1; create index k on widgets (n)"
      - name: protect
        policy: {table: widgets, name: mine, using: "owner = current_user"}
      - name: concurrently
        autocommit: true
        sql: select 1; create index concurrently c on widgets (owner)
    post_checks:
      - {query: select 1, expect: 1}
"""


def script(folder: Path, body: str) -> Path:
    path = folder / "fake-squawk"
    path.write_text(f"#!{sys.executable}\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture(autouse=True)
def squawk_as_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the developer's shell says, a squawk test starts from squawk as installed
    (autouse in each module that imports it)."""
    monkeypatch.delenv("MIGRATOR_SQUAWK", raising=False)
    monkeypatch.delenv("MIGRATOR_SQUAWK_TIMEOUT", raising=False)
