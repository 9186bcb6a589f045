"""docs/plugins.md works as written: its example plugin, installed as the guide says, runs."""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", GUIDE.read_text(), re.DOTALL)


@pytest.fixture
def guide_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The guide's package and entry point, installed on sys.path as pip would leave them."""
    files = {}
    for code in blocks("python"):
        first = code.splitlines()[0]
        if first.startswith("# migrator_chat/"):
            files[first[2:]] = code
    assert set(files) == {"migrator_chat/__init__.py", "migrator_chat/chat.py"}
    for relative, code in files.items():
        (tmp_path / relative).parent.mkdir(exist_ok=True)
        (tmp_path / relative).write_text(code)
    toml = next(b for b in blocks("toml") if "[project.entry-points.migrator]" in b)
    entry = toml.split("[project.entry-points.migrator]", 1)[1].strip()
    assert entry == 'chat = "migrator_chat"'
    info = tmp_path / "migrator_chat-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: migrator-chat\nVersion: 0.1\n")
    unquoted = entry.replace('"', "")
    (info / "entry_points.txt").write_text(f"[migrator]\n{unquoted}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield tmp_path
    for name in ("migrator_chat", "migrator_chat.chat"):
        sys.modules.pop(name, None)
    importlib.invalidate_caches()


def test_the_guides_plugin_is_listed_and_runs(
    guide_plugin: Path, migrator: Any, write_plan: Any, sql: Any
) -> None:
    listed = migrator("plugins")
    assert "chat (migrator-chat 0.1)\n  actions: chat" in listed.out
    plan = write_plan(
        "plan: tell\nkind: hotfix\nsteps:\n  - {name: tell ops, chat: {channel: ops}}\n",
        "tell.yaml",
    )

    applied = migrator("apply", plan)

    assert applied.code == 0, applied.out + applied.err
    assert "posting to #ops" in applied.out
    memo = sql("select detail->'memo'->>'channel' from migrator.events where status = 'done'")
    assert memo == [("ops",)]
    docs = migrator("docs", plan, dsn=False)
    assert "**1. tell ops** (`chat`)\n\n```\npost to #ops\n```" in docs.out
