"""What goes into `jsonb` and `text` is made storable: NUL, lone surrogates, NaN, any object,
and strings cut at 64 KB with a marker, after secrets are masked (never a half secret)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import UUID

from migrator.masking import Secrets
from migrator.storable import MAX_CHARS, json_data, storable, storable_json, storable_text


def test_nul_and_lone_surrogates_are_written_so_postgresql_takes_them() -> None:
    assert storable_text("a\x00b") == "a\\u0000b"
    assert storable_text("bad \udcff byte") == "bad \ufffd byte"
    assert json.loads(storable_json({"k\x00": ["x\x00", 1.5]})) == {"k\\u0000": ["x\\u0000", 1.5]}


def test_any_object_becomes_json_values_as_values_and_nan_a_string() -> None:
    data = json_data({"when": date(2026, 1, 2), "n": Decimal("1.5"), 3: (1, float("nan"))})
    assert data == {"when": "2026-01-02", "n": 1.5, "3": [1, "nan"]}  # a number, no repr
    uid = UUID("16103642-a0b1-4c2d-8e9f-0123456789ab")
    at = datetime(2026, 12, 5, 14, 4, 37, tzinfo=UTC)
    assert json_data([uid, at, Decimal("0.1000000000000000000001")]) == [
        str(uid),
        "2026-12-05T14:04:37+00:00",  # ISO 8601 with its zone, not str()'s space
        "0.1000000000000000000001",  # a float would change it: its text
    ]
    assert "NaN" not in storable_json({"x": float("inf")})


def test_long_strings_are_cut_with_a_marker() -> None:
    cut = storable_text("x" * (MAX_CHARS + 10))
    assert cut == "x" * MAX_CHARS + "... [10 more characters cut]"
    assert storable({"a": ["y" * MAX_CHARS]}) == {"a": ["y" * MAX_CHARS]}


def test_a_secret_is_masked_before_the_text_is_cut() -> None:
    secrets = Secrets()
    secret = "s3cr3t-" + "z" * 20
    secrets.add(secret)
    text = "x" * (MAX_CHARS - 10) + secret  # the cut would fall inside the secret
    stored = storable(secrets.mask_data(json_data({"out": text})))
    assert "s3cr3t" not in stored["out"]
    assert stored["out"].endswith("***")
