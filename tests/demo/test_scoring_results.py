"""The scoring-results plan and IR-08 on the demo database, with the app writing."""

from __future__ import annotations

from decimal import Decimal

import pytest

from migrator.demo.app import LEGACY_PAYLOAD
from tests.helpers import PLANS
from tests.processes import wait_for

SCORING = PLANS / "scoring-results.yaml"
IR08 = PLANS / "ir-08-backfill-profiles.yaml"
PLAN_NAME = "scoring-results-unification"

FIX_A = """
create policy "Service role can manage profiles" on public.profiles for all to public
using (auth.role() = 'service_role') with check (auth.role() = 'service_role')
"""

COMPLETE_LEGACY = """
select count(*) from scoring_results r
where exists (select 1 from profiles p where p.session_id = r.session_id)
  and (select count(*) from scoring_results_types t where t.session_id = r.session_id) = 16
  and (select count(*) from scoring_results_functions f where f.session_id = r.session_id) = 8
  and exists (select 1 from scoring_results_state s where s.session_id = r.session_id)
  and r.session_id = any(%s)
"""


@pytest.fixture
def fixed(demo_db: str, sql):  # type: ignore[no-untyped-def]
    """The demo database after IR-07's Fix A (the plan itself is tested in test_ir07)."""
    sql(FIX_A)
    return demo_db


def flags(sql) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return dict(sql("select name, value from migrator.flags"))


def phase(sql) -> str:  # type: ignore[no-untyped-def]
    rows = sql("select phase from migrator.plan_state where plan = %s", PLAN_NAME)
    return str(rows[0][0]) if rows else "legacy"  # no completed run yet: the first phase


def wait_for_new_sessions(sql, after: int, count: int) -> None:  # type: ignore[no-untyped-def]
    # the app's traffic arrives
    wait_for(lambda: sql("select count(*) from assessment_sessions")[0][0] >= after + count, 30)


def test_ir08_rebuilds_the_missing_profiles_and_its_rollback_removes_exactly_them(
    fixed, migrator, sql
) -> None:  # type: ignore[no-untyped-def]
    missing = sql(
        "select count(*) from assessment_sessions s where status = 'completed' "
        "and not exists (select 1 from profiles p where p.session_id = s.id)"
    )[0][0]
    assert missing >= 45
    before = sql("select count(*) from profiles")[0][0]
    result = migrator("apply", IR08)
    assert result.code == 0, result.out + result.err
    assert sql("select count(*) from profiles where source = 'ir-08-backfill'") == [(missing,)]
    assert sql(
        "select count(*) from scoring_results_types t join profiles p using (session_id) "
        "where p.source = 'ir-08-backfill'"
    ) == [(missing * 16,)]
    # The rebuilt profile is the one the scoring function gives.
    assert sql(
        "select count(*) from profiles p where p.source = 'ir-08-backfill' and "
        "(p.type_code, p.confidence) is distinct from "
        "(score_session(p.session_id) #>> '{profile,type_code}', "
        " (score_session(p.session_id) #>> '{profile,confidence}')::numeric)"
    ) == [(0,)]
    result = migrator("rollback", IR08)
    assert result.code == 0, result.out + result.err
    assert sql("select count(*) from profiles") == [(before,)]
    assert sql(
        "select count(*) from scoring_results_types t where not exists "
        "(select 1 from profiles p where p.session_id = t.session_id)"
    ) == [(0,)]


def test_the_way_through_and_back_loses_no_session(start_app, fixed, migrator, sql) -> None:  # type: ignore[no-untyped-def]
    app = start_app(traffic=20)
    url = ("--var", f"app_url={app.url}")
    assert migrator("apply", IR08).code == 0

    result = migrator("apply", SCORING, "--to", "dual_write", *url)
    assert result.code == 0, result.out + result.err
    assert phase(sql) == "dual_write"
    assert flags(sql) == {"WRITE_UNIFIED": True, "READ_SOURCE": "unified_first"}
    assert sql(
        "select count(*) from profiles p where not exists "
        "(select 1 from scoring_results r where r.session_id = p.session_id)"
    ) == [(0,)]
    # The backfill's payloads are the very ones the app's legacy read builds.
    legacy_payload = LEGACY_PAYLOAD.replace("%(id)s", "r.session_id")
    [(payloads, different)] = sql(
        "select count(*), count(*) filter (where r.payload is distinct from "
        f"({legacy_payload})) from scoring_results r"
    )
    assert payloads >= 300 and different == 0

    result = migrator("apply", SCORING, "--to", "unified_only", "--yes", *url)
    assert result.code == 0, result.out + result.err
    assert flags(sql)["WRITE_EXPLODED"] is False
    # Users keep finishing assessments while the plan is unified-only.
    count = sql("select count(*) from assessment_sessions")[0][0]
    wait_for_new_sessions(sql, count, 20)
    unified_only = [
        row[0]
        for row in sql(
            "select r.session_id from scoring_results r where not exists "
            "(select 1 from profiles p where p.session_id = r.session_id)"
        )
    ]
    assert len(unified_only) >= 20

    result = migrator("apply", SCORING, "--to", "dual_write", *url)
    assert result.code == 0, result.out + result.err
    assert phase(sql) == "dual_write"
    # Every session scored during unified-only has complete legacy rows now.
    assert sql(COMPLETE_LEGACY, unified_only) == [(len(unified_only),)]
    assert sql(
        "select count(*) from profiles where source = 'unified-restore' and session_id = any(%s)",
        unified_only,
    ) == [(len(unified_only),)]
    assert flags(sql) == {
        "WRITE_UNIFIED": True,
        "WRITE_EXPLODED": True,
        "READ_SOURCE": "unified_first",
    }


def test_a_broken_parity_undoes_the_cutover(start_app, fixed, migrator, sql) -> None:  # type: ignore[no-untyped-def]
    app = start_app()
    url = ("--var", f"app_url={app.url}")
    assert migrator("apply", SCORING, "--to", "dual_write", *url).code == 0
    # A legacy write bug: one session's confidence drifted in the legacy tables.
    [(before,)] = sql("select confidence from profiles where id = (select min(id) from profiles)")
    [(session, after)] = sql(
        "update profiles set confidence = round(confidence / 2, 3) "
        "where id = (select min(id) from profiles) returning session_id, confidence"
    )
    result = migrator("apply", SCORING, "--to", "unified_only", "--yes", *url)
    assert result.code == 1, result.out + result.err
    assert "unified and legacy agree" in result.out
    # The difference as data under the failed check: that session, its two confidences.
    lines = result.out.splitlines()
    difference = next(
        line for line in lines if line.startswith(f"      session_id {str(session)[:8]}")
    )
    shown = difference.rpartition(": confidence ")[2].split(" vs ")
    assert [Decimal(v) for v in shown] == [before, after], difference
    assert "Decimal(" not in result.out and "UUID(" not in result.out
    assert lines[-1] == (
        "plan scoring-results-unification stays in phase dual_write: a post-check failed and "
        "what the run did was undone (exit 1)"
    )
    assert phase(sql) == "dual_write"
    assert flags(sql) == {"WRITE_UNIFIED": True, "READ_SOURCE": "unified_first"}
    undone = sql(
        "select step from migrator.events where kind = 'undo' and status = 'done' order by id"
    )
    assert [u[0] for u in undone] == [
        "read only the unified payloads",
        "stop writing the exploded tables",
    ]


def test_back_to_legacy_drops_the_unified_table_only_when_nothing_is_lost(
    start_app, fixed, migrator, sql
) -> None:  # type: ignore[no-untyped-def]
    app = start_app()
    url = ("--var", f"app_url={app.url}")
    assert migrator("apply", SCORING, "--to", "dual_write", *url).code == 0
    # A unified row the legacy tables lack: going back to legacy must refuse.
    sql(
        "delete from scoring_results_types where session_id = "
        "(select session_id from profiles order by id limit 1)"
    )
    sql(
        "delete from scoring_results_functions where session_id = "
        "(select session_id from profiles order by id limit 1)"
    )
    sql(
        "delete from scoring_results_state where session_id = "
        "(select session_id from profiles order by id limit 1)"
    )
    sql("delete from profiles where id = (select min(id) from profiles)")
    result = migrator("apply", SCORING, "--to", "legacy", *url)
    assert result.code == 1, result.out + result.err
    assert sql("select to_regclass('public.scoring_results') is not null") == [(True,)]

    assert migrator("apply", IR08).code == 0  # the lost legacy rows are rebuilt
    result = migrator("apply", SCORING, "--to", "legacy", *url)
    assert result.code == 0, result.out + result.err
    assert sql("select to_regclass('public.scoring_results')") == [(None,)]
    assert flags(sql) == {"WRITE_UNIFIED": False, "READ_SOURCE": "legacy"}


def test_a_failed_post_check_undoes_dual_write_entirely(start_app, fixed, migrator, sql) -> None:  # type: ignore[no-untyped-def]
    app = start_app()
    # Someone turned the exploded writes off by hand: the app no longer writes both sides.
    # (A first attempt, with the app unreachable, stops at its pre-check: nothing done.)
    unreachable = ("--var", "app_url=http://127.0.0.1:9")
    assert migrator("apply", SCORING, "--to", "dual_write", *unreachable).code == 1
    assert sql("select to_regclass('public.scoring_results')") == [(None,)]
    sql("insert into migrator.flags (name, value) values ('WRITE_EXPLODED', 'false')")
    result = migrator("apply", SCORING, "--to", "dual_write", "--var", f"app_url={app.url}")
    assert result.code == 1, result.out + result.err
    assert "the application writes both sides" in result.out
    assert phase(sql) == "legacy"
    assert sql("select to_regclass('public.scoring_results')") == [(None,)]
    assert flags(sql) == {"WRITE_EXPLODED": False}
    run = sql("select max(id) from migrator.runs")[0][0]
    undone = sql(
        "select step from migrator.events where run_id = %s and kind = 'undo' "
        "and status = 'done' order by id",
        run,
    )
    assert [u[0] for u in undone] == [
        "backfill unified payloads from the legacy tables",
        "read unified first, legacy as the fallback",
        "write results to the unified table too",
        "the same permissive policy as the legacy tables",
        "row level security on the unified table",
        "create the unified table",
    ]


def test_the_shipped_plans_validate_clean(migrator) -> None:  # type: ignore[no-untyped-def]
    plans = sorted(PLANS.glob("*.yaml"))
    assert [p.name for p in plans] == [
        "ir-07-profiles-rls-hotfix.yaml",
        "ir-08-backfill-profiles.yaml",
        "scoring-results.yaml",
    ]
    result = migrator("validate", *plans)
    assert result.code == 0, result.out + result.err
    assert result.out.count("valid, 0 error(s), 0 warning(s)") == 3, result.out
