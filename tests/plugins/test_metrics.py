"""The `metrics` plugin: a Prometheus text file kept current through a run, parsed by
Prometheus' own parser at every batch of a backfill, and its final figures after a run
that succeeded, was undone, or failed its undo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from psycopg.conninfo import conninfo_to_dict

import migrator as migrator_pkg
from migrator import api
from migrator.plugin import ProgressReport, RunInfo
from tests.metrics import context, read, samples, value
from tests.plans import backfill_plan, phased, traced


class FileReader:
    """Reads and parses the metrics file after the metrics plugin wrote it, at each batch."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.walked: list[float] = []
        self.parsed = 0

    @migrator_pkg.hookimpl(trylast=True)  # after the metrics plugin's own
    def migrator_progress(self, progress: ProgressReport) -> None:
        text = read(self.path)
        walked = value(text, "migrator_backfill_rows_walked_total", plan="fill", step="copy")
        assert walked == progress.rows_done
        self.walked.append(walked)
        self.parsed += 1


def test_the_file_parses_at_every_batch_and_counts_the_rows(
    write_plan: Any, database: str, sql: Any, tmp_path: Path
) -> None:
    sql("create table src (id int primary key, v int); create table dst (id int, v int)")
    sql("insert into src select g, g from generate_series(1, 20000) g")
    plan = write_plan(backfill_plan(batch_size=2500))
    path = tmp_path / "migrator.prom"
    reader = FileReader(path)
    assert api.apply(context(database, reader, metrics_file=str(path)), plan, "full") == 0
    assert reader.parsed >= 9  # eight batches and the end
    assert reader.walked[-9:] == [2500.0 * n for n in range(1, 9)] + [20000.0]
    text = read(path)
    assert value(text, "migrator_backfill_rows_written_total", plan="fill", step="copy") == 20000
    assert value(text, "migrator_backfill_batches_total", plan="fill", step="copy") == 8
    assert value(text, "migrator_runs_total", plan="fill", outcome="succeeded") == 1
    assert value(text, "migrator_steps_total", plan="fill", outcome="done") == 1
    assert value(text, "migrator_checks_total", plan="fill", phase="post", outcome="passed") == 1
    assert value(text, "migrator_run_status", plan="fill", status="succeeded") == 1
    assert value(text, "migrator_run_status", plan="fill", status="applying") == 0
    assert value(text, "migrator_command_exit_code", plan="fill", command="apply") == 0
    assert value(text, "migrator_command_running", plan="fill", command="apply") == 0
    duration = value(text, "migrator_step_duration_seconds", plan="fill", step="copy")
    assert duration is not None and duration > 0
    assert list(tmp_path.glob("*.tmp")) == []  # no temporary file left beside it


def test_a_run_undone_and_one_whose_undo_failed(
    write_plan: Any, database: str, sql: Any, tmp_path: Path
) -> None:
    sql("create table ran (step text); create table undone (step text)")
    undone = write_plan(
        phased(
            "undone",
            [traced("one"), traced("two")],
            pre_checks=["{query: select 1, expect: 1}"],
            post_checks=["{query: select count(*) from ran, expect: 5}"],
        ),
        "undone.yaml",
    )
    path = tmp_path / "m.prom"
    assert api.apply(context(database, metrics_file=str(path)), undone, "b") == 1
    text = read(path)
    assert value(text, "migrator_runs_total", plan="undone", outcome="undone") == 1
    assert value(text, "migrator_runs_total", plan="undone", outcome="succeeded") == 0
    assert value(text, "migrator_steps_total", plan="undone", outcome="done") == 2
    assert value(text, "migrator_undos_total", plan="undone", outcome="done") == 2
    assert value(text, "migrator_checks_total", plan="undone", phase="post", outcome="failed") == 1
    assert value(text, "migrator_checks_total", plan="undone", phase="pre", outcome="passed") == 1
    assert value(text, "migrator_run_status", plan="undone", status="undone") == 1
    assert value(text, "migrator_command_exit_code", plan="undone", command="apply") == 1

    broken = write_plan(
        phased(
            "broken",
            ["{name: fine, sql: select 1, rollback: {sql: select 1/0}}", "{sql: select 1/0}"],
        ),
        "broken.yaml",
    )
    assert api.apply(context(database, metrics_file=str(path)), broken, "b") == 3
    text = read(path)
    assert value(text, "migrator_runs_total", plan="broken", outcome="undo_failed") == 1
    assert value(text, "migrator_steps_total", plan="broken", outcome="failed") == 1
    assert value(text, "migrator_undos_total", plan="broken", outcome="failed") == 1
    assert value(text, "migrator_run_status", plan="broken", status="undo_failed") == 1
    assert value(text, "migrator_command_exit_code", plan="broken", command="apply") == 3
    assert value(text, "migrator_runs_total", plan="undone", outcome="undone") is None


def test_hostile_names_and_secrets_never_break_or_reach_the_file(
    write_plan: Any, database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("METRICS_TOKEN", "tok-very-secret-9")
    password = conninfo_to_dict(database)["password"]
    assert password
    hostile = 'a "quoted" \\ step\nwith } 1 and a newline'
    text = phased(
        "hostile",
        [
            f"{{name: {json.dumps(hostile)}, sql: select 1}}",
            "{name: env, sql: \"select '${env:METRICS_TOKEN}'\"}",
        ],
        transition=json.dumps('go " } on'),
    )
    plan = write_plan(text)
    path = tmp_path / "m.prom"
    assert api.apply(context(database, metrics_file=str(path)), plan, "b") == 0
    written = read(path)
    steps = {
        dict(labels)["step"]
        for (name, labels) in samples(written)
        if name == "migrator_step_duration_seconds"
    }
    assert steps == {hostile, "env"}
    info = [dict(k) for (n, k) in samples(written) if n == "migrator_run_info"]
    assert info[0]["transition"] == 'go " } on'
    assert str(password) not in written and "tok-very-secret-9" not in written


class Waits:
    """Lets the backfill's throttle query go once the metrics file says it waits."""

    def __init__(self, path: Path, sql: Any) -> None:
        self.path, self.sql = path, sql
        self.seen: list[tuple[float | None, float | None]] = []

    @migrator_pkg.hookimpl(trylast=True)
    def migrator_progress(self, run: RunInfo, progress: ProgressReport) -> None:
        text = read(self.path)
        labels = {"plan": "fill", "step": "copy"}
        waiting = value(text, "migrator_backfill_waiting", **labels)
        self.seen.append((waiting, value(text, "migrator_backfill_waits_total", **labels)))
        if progress.waiting:
            self.sql("delete from hold")  # the gate opens: the next look finds no pressure


def test_a_throttled_backfill_counts_its_waits(
    write_plan: Any, database: str, sql: Any, tmp_path: Path
) -> None:
    sql("create table src (id int primary key, v int); create table dst (id int, v int)")
    sql("insert into src select g, g from generate_series(1, 3000) g")
    sql("create table hold (x int); insert into hold values (1)")
    plan = write_plan(
        backfill_plan(
            batch_size=1000,
            extra="          throttle_query: select exists (select from hold)\n",
        ).replace("expect: 20000", "expect: 3000")
    )
    path = tmp_path / "m.prom"
    watcher = Waits(path, sql)
    code = api.apply(context(database, watcher, metrics_file=str(path)), plan, "full")
    assert code == 0
    assert (1.0, 1.0) in watcher.seen  # told while it waited
    text = read(path)
    labels = {"plan": "fill", "step": "copy"}
    assert value(text, "migrator_backfill_waits_total", **labels) == 1
    assert value(text, "migrator_backfill_waiting", **labels) == 0
    waited = value(text, "migrator_backfill_waited_seconds_total", **labels)
    assert waited is not None and waited > 0


def test_a_rollback_counts_its_undos(write_plan: Any, database: str, tmp_path: Path) -> None:
    """A rollback's run is made of undos (its trail's steps `undo NAME`): they count as
    undos, not as steps."""
    plan = write_plan(phased("back", ["{sql: create table made (x int)}", "{sql: select 1}"]))
    path = tmp_path / "m.prom"
    assert api.apply(context(database, metrics_file=str(path)), plan, "b") == 0
    assert value(read(path), "migrator_steps_total", plan="back", outcome="done") == 2
    assert api.rollback(context(database, metrics_file=str(path)), plan) == 0
    text = read(path)
    assert value(text, "migrator_undos_total", plan="back", outcome="done") == 2
    assert value(text, "migrator_steps_total", plan="back", outcome="done") == 0
    assert value(text, "migrator_command_exit_code", plan="back", command="rollback") == 0
