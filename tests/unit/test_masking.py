"""Secrets.shorten: masked before the cut, and no piece of a secret left at a cut edge."""

from __future__ import annotations

import pytest

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
