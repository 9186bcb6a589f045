"""Secrets.shorten: masked before the cut, and no piece of a secret left at a cut edge;
Secrets.mask with the many secrets of a large fleet: what replacing every form finds, at a
cost that grows with what a text holds."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from migrator.masking import Secrets

SECRET = "tok-0123456789abcdefghij"  # 24 characters


def secrets() -> Secrets:
    found = Secrets()
    found.add(SECRET)
    return found


def pieces(text: str, size: int = 4) -> list[str]:
    """The pieces of SECRET of `size` characters or more that `text` holds."""
    return [
        SECRET[i:j]
        for i in range(len(SECRET))
        for j in range(i + size, len(SECRET) + 1)
        if SECRET[i:j] in text
    ]


@pytest.mark.parametrize("start", range(180, 205))
def test_a_secret_across_the_cut_of_the_head_leaves_nothing(start: int) -> None:
    text = "a" * start + SECRET + "b" * 300
    shown = secrets().shorten(text, 200)
    assert len(shown) <= 200 and shown.endswith("…")
    assert pieces(shown) == []
    assert shown.startswith("a" * min(start, 150))


@pytest.mark.parametrize("end", range(3990, 4030, 3))
def test_a_secret_across_the_cut_of_the_tail_leaves_nothing(end: int) -> None:
    text = "a" * 100 + SECRET + "b" * (end - 100)
    shown = secrets().shorten(text, 4003, keep="tail", marker="...")
    assert len(shown) <= 4003
    assert pieces(shown) == []
    assert shown.endswith("b" * 100)


def test_a_text_read_only_in_part_loses_the_pieces_at_both_edges() -> None:
    text = SECRET[10:] + " the middle " + SECRET[:9]  # both halves of one secret
    shown = secrets().shorten(text, 1000, partial=True)
    assert shown == " the middle "
    assert secrets().shorten(text, 1000) == text  # not partial: edges are the text's own


def test_short_text_is_masked_and_left_whole() -> None:
    assert secrets().shorten(f"key {SECRET} ok", 200) == "key *** ok"
    assert secrets().shorten("x" * 200, 200) == "x" * 200
    assert secrets().shorten("x" * 201, 200) == "x" * 199 + "…"


def test_a_secret_on_several_lines_is_masked_line_by_line_and_on_one_line() -> None:
    pem = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END KEY-----"
    found = Secrets()
    found.add(pem)
    assert found.mask("first line only: MIIEvQIBADANBgkqhkiG9w0BAQEFAASC") == (
        "first line only: ***"
    )
    assert "MIIEvQ" not in found.mask(" ".join(pem.split()))


def test_the_url_encoded_form_is_cut_safely_too() -> None:
    found = Secrets()
    found.add("p@ss word/with:signs")
    text = "z" * 190 + "p%40ss%20word%2Fwith%3Asigns" + "z" * 50
    shown = found.shorten(text, 200)
    assert "p%40ss" not in shown and "%40" not in shown


def test_a_secret_escaped_in_json_or_a_repr_is_masked() -> None:
    """An HTTP answer echoing a secret in JSON escapes it: quotes and backslashes
    doubled, non-ASCII as \\uXXXX (a review's find: 31 of 32 characters leaked)."""
    import json

    from migrator.masking import Secrets

    for value in ("éABCDEFGHIJKLMNOPQRSTUVWXYZ-0123", 'Se"cret\\Tok-98xyz'):
        found = Secrets()
        found.add(value)
        for shown in (
            json.dumps({"t": value}),
            json.dumps({"t": value}, ensure_ascii=False),
            repr(value),
        ):
            masked = found.mask(shown)
            assert "***" in masked, masked
            assert value[4:16] not in masked and json.dumps(value)[5:17] not in masked


# -- masking with many secrets ---------------------------------------------------------------


def replaced_longest_first(values: set[str], text: str) -> str:
    """What masking has always been: every form replaced, longest first."""
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, "***")
    return text


@settings(max_examples=300, deadline=None)
@given(
    secrets=st.lists(st.text("ab*x", min_size=3, max_size=7), max_size=60),
    texts=st.lists(st.text("ab*xy", max_size=40), min_size=1, max_size=5),
)
def test_masking_finds_exactly_what_replacing_every_form_finds(
    secrets: list[str], texts: list[str]
) -> None:
    known = Secrets()
    for secret in secrets:
        known.add(secret)
        for text in texts:  # masking between adds: the index is rebuilt after each
            assert known.mask(text) == replaced_longest_first(known._values, text)
            assert (text in known) == any(v in text for v in known._values)


@pytest.mark.parametrize("many", [0, 40])
def test_a_form_completed_by_an_earlier_mask_is_masked_too(many: int) -> None:
    known = Secrets()
    for i in range(many):  # past the few keys searched one by one
        known.add(f"{i:03d}-other")  # each its own first characters
    known.add("aaaaa")
    known.add("x***")
    assert known.mask("xaaaaa y") == "*** y"


def test_masking_a_large_fleet_costs_what_its_texts_hold() -> None:
    known = Secrets()
    for i in range(4000):
        known.add(f"postgresql://t{i}:pw{i:05d}x@db/t{i}?password=***&options=-c%20a%3D{i}")
        known.add(f"pw{i:05d}x")
        known.add(f"{i:04d}tok")  # secrets of many different first characters
    document = [{"name": f"tenant-{i}", "error": f"no pw{i:05d}x here"} for i in range(4000)]
    masked = known.mask_data(document)
    assert masked[7] == {"name": "tenant-7", "error": "no *** here"}
    assert known.mask("a 0123tok b 3999tok") == "a *** b ***"
    text = "x postgresql://t9:pw00009x@db/t9?password=***&options=-c%20a%3D9 y"
    assert known.mask(text) == "x *** y"
    assert known.mask("ends with pw00009x") == "ends with ***"  # the last characters too
    assert known.mask("pw0") == "pw0" and "pw00009x" in known
    known.add("zq9")  # a secret as short as the index's keys, at the very end
    assert known.mask("ends zq9") == "ends ***"
    assert known.mask(text) == replaced_longest_first(known._values, text)
