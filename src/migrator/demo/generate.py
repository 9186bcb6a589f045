"""Build the demo database: a Supabase-like project in the IR-07 broken state.

`reset(admin_dsn, name)` drops and creates the database; `load(dsn, sessions)` creates
the roles, `auth.*`, the scoring schema and data:

- `sessions` assessment sessions over the last 90 days, nine in ten completed, each
  with 24 answers; every completed session up to 21 days ago was scored into the
  legacy tables (a profile and its types, functions and state rows);
- then the incident (IR-07): `profiles` has RLS on and no policy, so from 20 days ago
  every completed session failed to get a profile: at least 45 of them, among them the
  incident's test session, several in the last 7 days;
- the forced-choice (FC) tables are empty.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from migrator.demo import sql_text

TEST_SESSION = "618c5ea6-aeda-4084-9156-0aac9643afd3"  # the incident's verification session
DEFAULT_SESSIONS = 10_000


# The legacy rows of every scored payload in `scored`, profiles in completion order
# (as the scoring function wrote them, one session at a time).
LEGACY_FROM_SCORED = """
insert into profiles (session_id, type_code, confidence, results_version, created_at)
select (payload #>> '{profile,session_id}')::uuid, payload #>> '{profile,type_code}',
       (payload #>> '{profile,confidence}')::numeric, payload ->> 'results_version',
       completed_at
from scored order by completed_at;
insert into scoring_results_types (session_id, type_code, fit, share)
select (payload #>> '{profile,session_id}')::uuid, t ->> 'type_code', (t ->> 'fit')::numeric,
       (t ->> 'share')::numeric
from scored, jsonb_array_elements(payload -> 'types') t order by completed_at;
insert into scoring_results_functions (session_id, func_code, strength)
select (payload #>> '{profile,session_id}')::uuid, f ->> 'func_code',
       (f ->> 'strength')::numeric
from scored, jsonb_array_elements(payload -> 'functions') f order by completed_at;
insert into scoring_results_state (session_id, overlay_band, blocks)
select (payload #>> '{profile,session_id}')::uuid, payload #>> '{state,overlay_band}',
       payload #> '{state,blocks}'
from scored order by completed_at;
"""


@dataclass(frozen=True)
class DemoData:
    sessions: int
    completed: int
    profiles: int
    missing_profiles: int


def database_dsn(admin_dsn: str, name: str) -> str:
    """The DSN of database `name` on the server of `admin_dsn`."""
    return psycopg.conninfo.make_conninfo(admin_dsn, dbname=name)


def reset(admin_dsn: str, name: str) -> str:
    """Drop and create database `name` (closing its sessions); its DSN."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        database = sql.Identifier(name)
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(database))
        conn.execute(sql.SQL("create database {}").format(database))
    return database_dsn(admin_dsn, name)


def missing_count(sessions: int) -> int:
    """How many recent completed sessions the incident left without a profile."""
    return max(45, sessions // 200)


def load(dsn: str, sessions: int = DEFAULT_SESSIONS) -> DemoData:
    """Create the schema and `sessions` sessions of data in the IR-07 broken state."""
    if sessions < 100:
        raise ValueError("the demo needs at least 100 sessions")
    broken = missing_count(sessions)
    healthy = sessions - broken
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql_text("supabase.sql").encode())
        conn.execute(sql_text("scoring.sql").encode())
        with conn.transaction():
            # Healthy history: 90 to 21 days ago, nine in ten completed.
            conn.execute(
                "insert into assessment_sessions (id, user_id, status, started_at, completed_at) "
                "select gen_random_uuid(), gen_random_uuid(), "
                "  case when g %% 10 = 0 then 'in_progress' else 'completed' end, "
                "  t - interval '25 minutes', case when g %% 10 = 0 then null else t end "
                "from generate_series(1, %(n)s) g, "
                "  lateral (select now() - interval '21 days' "
                "           - (g::float / %(n)s) * interval '69 days' as t) at",
                {"n": healthy},
            )
            # The incident window: completed in the last 20 days, never scored. The incident's
            # test session is the newest of them.
            conn.execute(
                "insert into assessment_sessions (id, user_id, status, started_at, completed_at) "
                "select case when g = %(n)s then %(test)s::uuid else gen_random_uuid() end, "
                "  gen_random_uuid(), 'completed', t - interval '25 minutes', t "
                "from generate_series(1, %(n)s) g, "
                "  lateral (select now() - interval '20 days' - interval '2 hours' "
                "           + (g::float / %(n)s) * interval '20 days' as t) at",
                {"n": broken, "test": TEST_SESSION},
            )
            conn.execute(
                "insert into assessment_responses (session_id, question_no, answer) "
                "select s.id, q, 1 + abs(hashtext(s.id::text || q::text)) % 5 "
                "from assessment_sessions s, generate_series(1, 24) q "
                "where s.status = 'completed' or q <= 12"
            )
            conn.execute(
                "create temp table scored on commit drop as "
                "select s.completed_at, p.payload from score_sessions(array("
                "  select id from assessment_sessions where status = 'completed' "
                "  and completed_at < now() - interval '21 days')) p "
                "join assessment_sessions s on s.id = p.session_id"
            )
            conn.execute(LEGACY_FROM_SCORED)
        conn.execute("vacuum analyze")
        row = conn.execute(
            "select count(*), count(*) filter (where status = 'completed'), "
            "(select count(*) from profiles) from assessment_sessions"
        ).fetchone()
    assert row is not None
    total, completed, profiles = (int(v) for v in row)
    return DemoData(total, completed, profiles, completed - profiles)
