"""Flags: the table store, the file store, and undo that restores exactly what was there."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml


def flag_plan(store: str, value: str = "false") -> str:
    return f"""\
plan: flags
kind: hotfix
steps:
  - flag: {{name: WRITE_EXPLODED, value: {value}, store: "{store}"}}
  - flag: {{name: READ_SOURCE, value: unified, store: "{store}"}}
post_checks:
  - flag_is: {{name: WRITE_EXPLODED, value: {value}, store: "{store}"}}
"""


def test_table_store_undo_restores_the_old_value_and_removes_new_flags(
    migrator: Any, write_plan: Any, sql: Any
) -> None:
    seed = write_plan(
        "plan: seed\nkind: hotfix\nsteps: [{flag: {name: WRITE_EXPLODED, value: true}}]\n",
        "seed.yaml",
    )
    assert migrator("apply", seed).code == 0
    plan = write_plan(flag_plan("table"))
    assert migrator("apply", plan).code == 0
    assert sql("select name, value from migrator.flags order by name") == [
        ("READ_SOURCE", "unified"),
        ("WRITE_EXPLODED", False),
    ]
    assert sql("select updated_by from migrator.flags where name = 'READ_SOURCE'") != [(None,)]
    assert migrator("rollback", plan).code == 0
    assert sql("select name, value from migrator.flags order by name") == [("WRITE_EXPLODED", True)]


def test_a_flag_set_to_true_is_stored_as_json_true(
    migrator: Any, write_plan: Any, sql: Any
) -> None:
    plan = write_plan("plan: t\nkind: hotfix\nsteps: [{flag: {name: F, value: true}}]\n")
    assert migrator("apply", plan).code == 0
    assert sql("select jsonb_typeof(value), value::text from migrator.flags") == [
        ("boolean", "true")
    ]


def test_file_store_json(migrator: Any, write_plan: Any, sql: Any, tmp_path: Path) -> None:
    flags = tmp_path / "app" / "flags.json"
    flags.parent.mkdir()
    flags.write_text(json.dumps({"WRITE_EXPLODED": True, "OTHER": 1}))
    plan = write_plan(flag_plan("file:app/flags.json"))
    assert migrator("apply", plan).code == 0
    assert json.loads(flags.read_text()) == {
        "OTHER": 1,
        "READ_SOURCE": "unified",
        "WRITE_EXPLODED": False,
    }
    assert sql("select count(*) from migrator.flags") == [(0,)]  # the table was not used
    assert migrator("rollback", plan).code == 0
    assert json.loads(flags.read_text()) == {"OTHER": 1, "WRITE_EXPLODED": True}
    leftovers = [p.name for p in flags.parent.iterdir() if p.name.startswith(".flags.json.")]
    assert leftovers == []  # no temporary file left behind


def test_file_store_keeps_the_file_mode_and_its_order(
    migrator: Any, write_plan: Any, tmp_path: Path
) -> None:
    flags = tmp_path / "flags.json"
    original = json.dumps({"WRITE_EXPLODED": True, "AAA": 1}, indent=2) + "\n"
    flags.write_text(original)
    flags.chmod(0o644)  # the application reads it as another user
    plan = write_plan(flag_plan("file:flags.json"))
    assert migrator("apply", plan).code == 0
    assert flags.stat().st_mode & 0o777 == 0o644
    assert list(json.loads(flags.read_text())) == ["WRITE_EXPLODED", "AAA", "READ_SOURCE"]
    assert migrator("rollback", plan).code == 0
    assert flags.stat().st_mode & 0o777 == 0o644
    assert flags.read_text() == original  # written as migrator writes it: the same bytes


def test_file_store_yaml_created_when_missing(
    migrator: Any, write_plan: Any, tmp_path: Path
) -> None:
    plan = write_plan(flag_plan("file:flags.yaml", value="true"))
    umask = os.umask(0o027)
    try:
        assert migrator("apply", plan).code == 0
    finally:
        os.umask(umask)
    assert (tmp_path / "flags.yaml").stat().st_mode & 0o777 == 0o640  # as open() makes it
    assert yaml.safe_load((tmp_path / "flags.yaml").read_text()) == {
        "READ_SOURCE": "unified",
        "WRITE_EXPLODED": True,
    }
    assert migrator("rollback", plan).code == 0
    assert yaml.safe_load((tmp_path / "flags.yaml").read_text()) == {}


def test_a_failed_check_undoes_the_file_flags(
    migrator: Any, write_plan: Any, tmp_path: Path
) -> None:
    flags = tmp_path / "flags.json"
    flags.write_text('{"WRITE_EXPLODED": true}')
    plan = write_plan(flag_plan("file:flags.json") + "  - {query: select 1, expect: 2}\n")
    assert migrator("apply", plan).code == 1
    assert json.loads(flags.read_text()) == {"WRITE_EXPLODED": True}


def test_an_unknown_store_fails_clearly(migrator: Any, write_plan: Any) -> None:
    result = migrator("apply", write_plan(flag_plan("redis://cache")))
    assert result.code == 1
    assert "no plugin keeps flags in 'redis://cache'" in result.out


def test_flag_values_may_use_variables(migrator: Any, write_plan: Any, sql: Any) -> None:
    plan = write_plan(
        "plan: v\nkind: hotfix\nvars: {version: v1.2.1}\n"
        "steps: [{flag: {name: SCORING_VERSION, value: 'scoring-${version}'}}]\n"
    )
    assert migrator("apply", plan).code == 0
    assert sql("select value from migrator.flags") == [("scoring-v1.2.1",)]
