"""The plan key `notify:`: the receivers a plan's runs are told to, and which events each
wants. Validated with the plan (an unknown key or event at FILE:LINE:COL)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

Event = Literal[
    "run_started",
    "run_succeeded",
    "run_failed",
    "undo_failed",
    "approval_needed",
    "interrupted",
]
EVENTS: tuple[Event, ...] = get_args(Event)
"""Every event a receiver can be told, in the order a run meets them."""

DEFAULT_TIMEOUT = 5.0
"""Seconds one notification may take, its retry included."""

ENV_URL = "MIGRATOR_NOTIFY_URL"
"""A receiver every run of the project is told (JSON, every event), beside the plan's."""


BAD_URL = "a receiver's url must be http:// or https:// with a host (and a port 1-65535, if any)"
"""Why a URL is refused; the URL itself is never shown (a webhook's token is in it)."""


def url_problem(url: str) -> str | None:
    """Why `url` cannot be a receiver's (never quoting it), or None when it can."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url.strip())
        port = parts.port  # raises for a port out of range or not a number
    except ValueError:
        return BAD_URL
    if parts.scheme not in ("http", "https") or not parts.hostname or port == 0:
        return BAD_URL
    return None


def _receivable(value: Any) -> Any:
    if isinstance(value, str) and "${" not in value:  # with `${...}`: checked once resolved
        problem = url_problem(value)
        if problem is not None:
            raise ValueError(problem)
    return value


def _known(value: Any) -> Any:
    if isinstance(value, str) and value not in EVENTS:
        raise ValueError(f"unknown event '{value}': the events are {', '.join(EVENTS)}")
    return value


KnownEvent = Annotated[Event, BeforeValidator(_known)]


def _seconds(value: Any) -> float:
    from migrator.plugin import parse_duration

    return parse_duration(value)


Seconds = Annotated[float, BeforeValidator(_seconds)]


class Receiver(BaseModel):
    """One receiver of a plan's notifications."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: Annotated[str, AfterValidator(_receivable)] = Field(
        ...,
        min_length=1,
        description="where to POST: a webhook or a Slack incoming webhook; may hold "
        "`${env:NAME}` (a secret: masked everywhere, shown as scheme://host only)",
    )
    on: list[KnownEvent] = Field(
        default_factory=lambda: list(EVENTS),
        description="the events it is told (default: all of them)",
    )
    format: Literal["json", "slack"] = Field(
        "json", description="`json`: migrator's document; `slack`: incoming-webhook blocks"
    )
    timeout: Seconds = Field(
        DEFAULT_TIMEOUT,
        description="the most one notification may take, its one retry included (default 5s)",
    )


Notify = list[Receiver]
"""The value of the plan key `notify`."""
