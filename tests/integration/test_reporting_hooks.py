"""The reporting hooks a third party's plugin builds notifications, metrics and traces on:
the command around the runs, every event of the trail, a backfill's progress after each
batch, a plan key and a command-line option of its own; none of them can break a run."""

from __future__ import annotations

import io
import os
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

import migrator as migrator_pkg
from migrator import api
from migrator.errors import PlanError, PluginError
from migrator.plugin import CommandInfo, OptionSpec, PlanKeySpec, ProgressReport, RunEvent, RunInfo
from migrator.plugin.manager import get_plugin_manager
from tests.plans import backfill_plan, phased, traced
from tests.reporters import plugin_context


class Tell(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: str
    loud: bool = False


class Teller:
    """A third party's reporter: a plan key `tell`, an option `--tell-file`, every hook."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, CommandInfo, Any]] = []
        self.events: list[tuple[RunInfo, RunEvent]] = []
        self.progress: list[ProgressReport] = []

    @migrator_pkg.hookimpl
    def migrator_register_plan_keys(self, register: Any) -> None:
        register(PlanKeySpec("tell", Tell, "whom to tell"))

    @migrator_pkg.hookimpl
    def migrator_register_options(self, register: Any) -> None:
        register(OptionSpec("tell_file", "where to tell", metavar="PATH"))

    @migrator_pkg.hookimpl
    def migrator_command_start(self, command: CommandInfo) -> None:
        self.commands.append(("start", command, None))

    @migrator_pkg.hookimpl
    def migrator_command_end(self, command: CommandInfo, exit_code: int, error: Any) -> None:
        self.commands.append(("end", command, (exit_code, error)))

    @migrator_pkg.hookimpl
    def migrator_event(self, run: RunInfo, event: RunEvent) -> None:
        self.events.append((run, event))

    @migrator_pkg.hookimpl
    def migrator_progress(self, progress: ProgressReport) -> None:
        self.progress.append(progress)

    def states(self) -> list[str]:
        return [e.status for _, e in self.events if e.kind == "state"]


def _context(database: str, plugin: Any, **options: Any) -> api.Context:
    return plugin_context(database, {"teller": plugin}, **options)


def test_a_run_is_told_from_command_to_end(write_plan: Any, database: str, sql: Any) -> None:
    sql("create table ran (step text)")
    plan = write_plan(
        phased(
            "told", [traced("one")], post_checks=["{query: select count(*) from ran, expect: 1}"]
        )
        + "tell: {to: ops, loud: true}\n"
    )
    teller = Teller()
    ctx = _context(database, teller, tell_file="/tmp/x.prom")
    assert api.apply(ctx, plan, "b") == 0
    (start, info, _), (end, info_end, (code, error)) = teller.commands
    assert (start, end, code, error) == ("start", "end", 0, None)
    assert info is info_end
    assert (info.command, info.plan, info.operator) == ("apply", "told", "dora")
    assert info.settings["tell"] == Tell(to="ops", loud=True)
    assert info.options["tell_file"] == "/tmp/x.prom"  # the built-in plugins' options: None
    assert {name for name, given in info.options.items() if given is not None} == {"tell_file"}
    assert info.database.endswith("/" + database.split("?")[0].rsplit("/", 1)[1])
    assert "sweep-pw" not in info.database
    assert teller.states() == ["prechecking", "applying", "verifying", "succeeded"]
    run = teller.events[0][0]
    assert (run.transition, run.source, run.target, run.command) == ("go", "a", "b", info)
    kinds = [(e.kind, e.status, e.step) for _, e in teller.events if e.kind != "state"]
    assert ("step", "done", "one") in kinds
    assert any(k == "check" and s == "passed" for k, s, _ in kinds)
    recorded = sql(f"select kind, status, step from migrator.events where run_id = {run.run_id}")
    told = [(e.kind, e.status, e.step) for r, e in teller.events if r.run_id == run.run_id]
    assert told == [tuple(row) for row in recorded]  # each event of the trail, in order


def test_a_failed_run_is_told_with_what_settles_it(write_plan: Any, database: str) -> None:
    plan = write_plan(
        phased(
            "broken",
            ["{name: fine, sql: select 1, rollback: {sql: select 1/0}}", "{sql: select 1/0}"],
        )
    )
    teller = Teller()
    assert api.apply(_context(database, teller), plan, "b") == 3
    last = [e for _, e in teller.events if e.kind == "state"][-1]
    assert last.status == "undo_failed"
    assert last.settle is not None and f"migrator resume {plan}" in last.settle
    assert teller.commands[-1][2] == (3, None)


def test_a_check_that_fails_first_is_told_nothing_applied(write_plan: Any, database: str) -> None:
    plan = write_plan(
        phased("gated", ["{sql: select 1}"], pre_checks=["{query: select 2, expect: 1}"])
    )
    teller = Teller()
    assert api.apply(_context(database, teller), plan, "b") == 1
    failed = [e for _, e in teller.events if e.kind == "check" and e.status == "failed"]
    assert failed[0].detail["actual"] == 2
    last = [e for _, e in teller.events if e.kind == "state"][-1]
    assert last.status == "failed"
    assert last.settle is not None and f"migrator apply {plan} --to b" in last.settle


def test_a_backfill_tells_its_progress_after_every_batch(
    write_plan: Any, database: str, sql: Any
) -> None:
    sql("create table src (id int primary key, v int); create table dst (id int, v int)")
    sql("insert into src select g, g from generate_series(1, 20000) g")
    plan = write_plan(backfill_plan(batch_size=2500))
    teller = Teller()
    assert api.apply(_context(database, teller), plan, "full") == 0
    batches = [p for p in teller.progress if not p.finished and not p.waiting]
    assert [p.batches for p in batches][-8:] == list(range(1, 9))
    assert [p.rows_done for p in batches][-8:] == [2500 * n for n in range(1, 9)]
    assert batches[-1].rows_written == 20000
    assert teller.progress[-1].finished and teller.progress[-1].step == "copy"


def test_hooks_that_raise_never_fail_the_run_nor_starve_the_others(
    write_plan: Any, database: str, sql: Any
) -> None:
    class Broken:
        @migrator_pkg.hookimpl
        def migrator_command_start(self) -> None:
            raise RuntimeError("not now")

        @migrator_pkg.hookimpl
        def migrator_event(self, event: RunEvent) -> None:
            raise RuntimeError("receiver down")

        @migrator_pkg.hookimpl
        def migrator_progress(self) -> None:
            raise RuntimeError("no gauge")

        @migrator_pkg.hookimpl
        def migrator_command_end(self) -> None:
            raise RuntimeError("gone")

    sql("create table src (id int primary key, v int); create table dst (id int, v int)")
    sql("insert into src select g, g from generate_series(1, 20000) g")
    plan = write_plan(backfill_plan(batch_size=5000))
    teller = Teller()
    ctx = _context(database, teller)
    ctx.manager().register_plugin(Broken(), "broken")  # the newest: pluggy calls it first
    assert api.apply(ctx, plan, "full") == 0
    failures = sql("select status, detail from migrator.events where kind = 'hook'")
    assert [(s, d["detail"]) for s, d in failures] == [
        ("failed", "plugin broken: migrator_event: RuntimeError: receiver down"),
        ("failed", "plugin broken: migrator_progress: RuntimeError: no gauge"),
    ]  # each once, however many events and batches
    said = ctx.out.getvalue()
    assert "warning: plugin broken's migrator_command_start failed: RuntimeError: not now" in said
    assert "warning: plugin broken's migrator_command_end failed: RuntimeError: gone" in said
    # the other plugin was told everything all the same
    assert [c[0] for c in teller.commands] == ["start", "end"]
    assert teller.states() == ["prechecking", "applying", "verifying", "succeeded"]
    assert [p.batches for p in teller.progress if not p.finished][-4:] == [1, 2, 3, 4]


def test_a_plugins_warning_is_recorded_and_shown(write_plan: Any, database: str, sql: Any) -> None:
    class Warner:
        @migrator_pkg.hookimpl
        def migrator_event(self, run: RunInfo, event: RunEvent) -> None:
            if event.kind == "state" and event.status == "succeeded":
                run.warn("the receiver at https://hooks.example did not answer")

    plan = write_plan(phased("warned", ["{sql: select 1}"]))
    ctx = _context(database, Warner())
    assert api.apply(ctx, plan, "b") == 0
    warned = sql("select status, detail from migrator.events where kind = 'hook'")
    assert warned == [
        ("warned", {"detail": "the receiver at https://hooks.example did not answer"})
    ]
    assert "! the receiver at https://hooks.example did not answer" in ctx.out.getvalue()


def test_a_usage_error_of_command_start_stops_before_anything_runs(
    write_plan: Any, database: str, sql: Any
) -> None:
    class Picky:
        @migrator_pkg.hookimpl
        def migrator_command_start(self, command: CommandInfo) -> None:
            raise migrator_pkg.errors.UsageError("--tell-file: no such folder")

    plan = write_plan(phased("picky", ["{sql: create table made (x int)}"]))
    with pytest.raises(migrator_pkg.errors.UsageError, match="no such folder"):
        api.apply(_context(database, Picky()), plan, "b")
    assert sql("select to_regclass('made')") == [(None,)]


def test_a_plan_key_of_a_plugin_is_validated_where_it_is_written(
    write_plan: Any, database: str
) -> None:
    text = phased("bad", ["{sql: select 1}"]) + "tell: {to: ops, shout: yes}\n"
    plan = write_plan(text)
    with pytest.raises(PlanError) as caught:
        api.apply(_context(database, Teller()), plan, "b")
    [problem] = caught.value.problems
    assert (problem.line, problem.column) == (text.count("\n"), 17)
    assert (problem.path, problem.message) == ("tell.shout", "unknown key 'shout'")


def test_a_plan_key_without_its_plugin_is_unknown(write_plan: Any, database: str) -> None:
    plan = write_plan(phased("bare", ["{sql: select 1}"]) + "tell: {to: ops}\n")
    ctx = api.Context(out=io.StringIO(), err=io.StringIO(), dsn=database)
    with pytest.raises(PlanError) as caught:
        api.apply(ctx, plan, "b")
    assert any("tell" in p.message or p.path == "tell" for p in caught.value.problems)


@pytest.mark.parametrize(
    ("hook", "spec", "message"),
    [
        ("migrator_register_plan_keys", PlanKeySpec("steps", Tell), "migrator's own"),
        ("migrator_register_options", OptionSpec("dsn", "x"), "migrator's own"),
        ("migrator_register_options", OptionSpec("plan", "x"), "migrator's own"),
        ("migrator_register_plan_keys", PlanKeySpec("model_config", Tell), "pydantic keeps"),
        ("migrator_register_plan_keys", PlanKeySpec("json", Tell), "pydantic keeps"),
        ("migrator_register_plan_keys", PlanKeySpec("Tell", Tell), "lower case"),
        ("migrator_register_options", OptionSpec("_x", "x"), "lower case"),
    ],
)
def test_a_plugin_cannot_take_migrators_own_keys(hook: str, spec: Any, message: str) -> None:
    class Greedy:
        pass

    def register_it(register: Any) -> None:
        register(spec)

    setattr(Greedy, hook, staticmethod(migrator_pkg.hookimpl(register_it)))
    pm = get_plugin_manager()
    pm.register_plugin(Greedy(), "greedy")
    with pytest.raises(PluginError, match=message):
        pm.build_registry()


def test_two_plugins_cannot_share_a_plan_key() -> None:
    pm = get_plugin_manager()
    pm.register_plugin(Teller(), "one")
    pm.register_plugin(Teller(), "two")
    with pytest.raises(PluginError, match=r"^plan key 'tell' is registered twice: by plugin"):
        pm.build_registry()


def test_a_rehearsal_tells_nobody(write_plan: Any, database: str, sql: Any) -> None:
    sql("create table t (x int)")
    plan = write_plan(phased("rehearsed", ["{sql: insert into t values (1)}"]))
    teller = Teller()
    ctx = _context(database, teller)
    ctx.output = "json"
    assert api.rehearse(ctx, plan) == 0
    assert teller.events == [] and teller.commands == [] and teller.progress == []


@pytest.mark.parametrize(
    ("interactive", "assume_yes", "asked"),
    [(True, False, True), (True, True, False), (False, False, False)],
)
def test_an_approval_waits_on_someone_only_when_a_person_is_asked(
    write_plan: Any, database: str, interactive: bool, assume_yes: bool, asked: bool
) -> None:
    plan = write_plan(
        phased("gate", ["{sql: select 1}"]).replace(
            "    to: b\n", "    to: b\n    approval: true\n"
        )
    )
    teller = Teller()
    ctx = _context(database, teller)
    ctx.interactive, ctx.assume_yes = interactive, assume_yes
    ctx.confirm = lambda question: True
    code = api.apply(ctx, plan, "b")
    assert code == (0 if interactive or assume_yes else 1)
    [waiting] = [e for _, e in teller.events if e.status == "awaiting_approval"]
    if asked:
        assert (
            waiting.settle
            == f"answer at the terminal that runs it, or run `migrator apply {plan} --to b --yes`"
        )
    else:
        assert waiting.settle is None  # approved at once by --yes, or declined at once


def test_a_command_that_cannot_reach_its_database_is_told_with_exit_5(write_plan: Any) -> None:
    plan = write_plan(phased("far", ["{sql: select 1}"]))
    teller = Teller()
    ctx = _context("postgresql://ops:far-pw-123@127.0.0.1:1/nowhere", teller)
    with pytest.raises(migrator_pkg.errors.MigratorError) as caught:
        api.apply(ctx, plan, "b")
    assert caught.value.exit_code == 5
    [(start, info, _), (end, _, (code, error))] = teller.commands
    assert (start, end, code) == ("start", "end", 5)
    assert info.database == "127.0.0.1:1/nowhere"
    assert error is not None and "far-pw-123" not in error and teller.events == []


def test_a_secret_in_a_step_name_is_masked_in_the_trail_and_the_events_told(
    write_plan: Any, database: str, sql: Any
) -> None:
    from psycopg.conninfo import conninfo_to_dict

    password = str(conninfo_to_dict(database)["password"])
    plan = write_plan(phased("named", [f"{{name: 'copy {password}', sql: select 1}}"]))
    teller = Teller()
    assert api.apply(_context(database, teller), plan, "b") == 0
    steps = [row[0] for row in sql("select step from migrator.events where step is not null")]
    assert "copy ***" in steps and not any(password in s for s in steps)
    assert [e.step for _, e in teller.events if e.kind == "step"][-1] == "copy ***"
    os.remove(plan)  # the plan itself holds the password: the session's sweep searches files
