"""The plan reference is rendered from whatever the registry holds: a plugin's own key too."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from migrator.plugin.registry import ActionSpec, CheckSpec, Registry
from migrator.views.reference import render_reference, render_type


class Notify(BaseModel):
    channel: str = Field(..., min_length=1, description="where | to say it")
    loud: bool = False
    tags: list[str] = Field(default_factory=lambda: ["ops"])


class Options(BaseModel):
    urgent: bool = Field(False, description="page someone")


def _nothing(*_: Any) -> Any:
    return None


def test_an_action_and_a_check_are_rendered_from_their_specs() -> None:
    registry = Registry()
    registry.add_action(
        ActionSpec(
            key="notify",
            config=Notify,
            options=Options,
            run=_nothing,
            describe=str,
            transactional=False,
            summary="tell a channel",
        ),
        "notifier",
    )
    registry.add_check(
        CheckSpec(
            key="answered",
            config=str,
            evaluate=_nothing,
            describe=str,
            expect=Literal["yes", "no"],
            expect_required=False,
        ),
        "notifier",
    )

    text = render_reference(registry)

    assert "### `notify`\n\nTell a channel.\n\n- provided by the plugin `notifier`" in text
    assert "| `channel` | text (at least 1) | required | where \\| to say it |" in text
    assert '| `tags` | list of text | `["ops"]` |  |' in text
    assert "Keys allowed beside `notify` in the step:" in text
    assert "| `urgent` | boolean | `false` | page someone |" in text
    assert "- runs outside a transaction" in text
    assert "### `answered`" in text.split("## Checks")[1]
    assert '- `expect` (optional): "yes" | "no"' in text
    assert "Its value: text." in text


def test_types_read_as_a_plan_author_writes_them() -> None:
    assert render_type(dict[str, int | None]) == "mapping of text to integer"
    assert render_type(Literal["a", "b"]) == '"a" | "b"'
    assert render_type(list[float]) == "list of number"
    assert render_type(Any) == "any"
