"""Text cut short for a person is masked first: a rehearsal's difference, a lock's blocker.

Each test places a secret across the cut and looks for any 12-character piece of it.
"""

from __future__ import annotations

from typing import Any

from migrator.db.lockwait import SERVER_CUT, LockWatch
from migrator.masking import Secrets
from migrator.rehearse import catalog

SECRET = "tok-6f1c2a9e4b7d8c3f5a0e"


def pieces(text: str) -> list[str]:
    return [SECRET[i : i + 12] for i in range(len(SECRET) - 11) if SECRET[i : i + 12] in text]


def secrets() -> Secrets:
    found = Secrets()
    found.add(SECRET)
    return found


def flag_difference(shorten: Any) -> str:
    # The secret starts at character 62 of the flag's JSON text: the 80-character cut of a
    # difference falls inside it.
    value = "x" * 60 + SECRET
    before: Any = {"flag": {"checkout_key": value}}
    after: Any = {"flag": {"checkout_key": "off"}}
    (difference,) = catalog.compare(before, after, shorten)
    return secrets().mask(difference.describe())  # masked again, as every line printed is


def test_a_difference_masks_a_value_before_cutting_it() -> None:
    shown = flag_difference(secrets().shorten)
    assert pieces(shown) == [], shown
    assert '-> "off"' in shown


def test_cutting_before_masking_would_leave_a_piece() -> None:
    # What the test above guards against: the plain cut leaves the secret's start.
    assert pieces(flag_difference(catalog._cut)) != []


def blocker_query(query: str) -> str | None:
    watch = LockWatch(db=None, backend_pid=1, secrets=secrets())  # type: ignore[arg-type]
    return watch._blocker(7, "app", "psql", "active", 1.5, query).query


def test_a_blocker_query_is_masked() -> None:
    shown = blocker_query(f"update accounts set token = '{SECRET}' where id = 1")
    assert shown is not None
    assert pieces(shown) == [] and "***" in shown


def test_a_blocker_query_cut_by_the_server_inside_a_secret_leaves_no_piece() -> None:
    # pg_stat_activity keeps the first 1023 bytes of a query: here the secret's first 20
    # characters end it.
    head = "select '" + "y" * (SERVER_CUT - 8 - 20)
    query = head + SECRET[:20]
    assert len(query) == SERVER_CUT
    shown = blocker_query(query)
    assert shown is not None
    assert pieces(shown) == [], shown[-40:]
    assert shown.startswith("select 'yyy")
    # Told apart from a short query, whose end is its own: nothing dropped there.
    assert blocker_query("select 1") == "select 1"
