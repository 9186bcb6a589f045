"""IR-07 on the demo database: the broken state, the hotfix, and its rollback."""

from __future__ import annotations

import httpx

from tests.helpers import DEMO_SERVICE_KEY, PLANS

IR07 = PLANS / "ir-07-profiles-rls-hotfix.yaml"
TEST_SESSION = "618c5ea6-aeda-4084-9156-0aac9643afd3"


def finalize(url: str, session_id: str) -> httpx.Response:
    return httpx.post(
        f"{url}/functions/v1/finalizeAssessment",
        json={"session_id": session_id},
        headers={"Authorization": f"Bearer {DEMO_SERVICE_KEY}"},
        timeout=10,
    )


def test_the_broken_state_refuses_every_profile_write(start_app, sql) -> None:  # type: ignore[no-untyped-def]
    app = start_app()
    answer = finalize(app.url, TEST_SESSION)
    assert answer.status_code == 500
    assert 'row-level security policy for table "profiles"' in answer.json()["error"]
    assert sql("select count(*) from profiles where session_id = %s", TEST_SESSION) == [(0,)]


def test_ir07_applies_then_rolls_back(start_app, migrator, sql) -> None:  # type: ignore[no-untyped-def]
    app = start_app(traffic=10)
    result = migrator("apply", IR07, "--yes", "--var", f"app_url={app.url}")
    assert result.code == 0, result.out + result.err
    assert sql("select policyname, cmd, qual from pg_policies where tablename = 'profiles'") == [
        ("Service role can manage profiles", "ALL", "(auth.role() = 'service_role'::text)")
    ]
    assert sql("select results_version from profiles where session_id = %s", TEST_SESSION) == [
        ("v1.2.1",)
    ]
    warned = sql(
        "select step from migrator.events where kind = 'check' and status = 'warned' order by id"
    )
    assert warned == [], warned  # the broken state was confirmed: no warning

    result = migrator("rollback", IR07, "--yes")
    assert result.code == 0, result.out + result.err
    assert sql("select count(*) from pg_policies where tablename = 'profiles'") == [(0,)]
    # The broken state is back: the service role's writes are refused again.
    assert finalize(app.url, TEST_SESSION).status_code == 500


def test_a_failed_post_check_drops_the_policy_again(start_app, migrator, sql) -> None:  # type: ignore[no-untyped-def]
    start_app()
    # finalizeAssessment cannot be reached: the verification fails, the fix is undone.
    result = migrator("apply", IR07, "--yes", "--var", "app_url=http://127.0.0.1:9")
    assert result.code == 1, result.out + result.err
    assert "finalizeAssessment generates the test session's profile" in result.out
    assert sql("select count(*) from pg_policies where tablename = 'profiles'") == [(0,)]
    assert sql("select phase from migrator.plan_state") in ([], [("pending",)])
