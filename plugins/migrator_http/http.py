"""The `http` action and check: call an endpoint; the check compares status and a JSON subset.

Strings in the URL, in header values and in the JSON body (and in the expected JSON)
may use `${name}` and `${env:NAME}`; they are resolved through `ctx.interpolate`, which
registers environment values as secrets, so the engine masks them wherever they would be
shown or recorded. `describe` shows the templates as written, never resolved values.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from migrator import CheckContext, CheckOutcome, StepContext
from migrator.plugin import map_strings

EXCERPT_CHARS = 200
"""How much of a response body an error message quotes."""

_SAFE_METHODS = frozenset({"GET", "HEAD"})


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Request(_Config):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "GET"
    url: str = Field(..., min_length=1, description="may use ${name} and ${env:NAME}")
    headers: dict[str, str] = Field(default_factory=dict, description="values may use ${env:NAME}")
    json_body: Any = Field(None, alias="json")
    timeout: float = Field(10.0, gt=0, description="seconds, for each request")


class ResponseExpectation(_Config):
    status: int | None = Field(
        None, ge=100, le=599, description="the exact status; without it, any 2xx"
    )
    json_subset: Any = Field(
        None, alias="json", description="a subset the response JSON must contain"
    )

    def __str__(self) -> str:
        parts = [f"status {self.status if self.status is not None else '2xx'}"]
        if self.json_subset is not None:
            parts.append(f"JSON containing {_compact(self.json_subset)}")
        return ", ".join(parts)


class HttpCallFailed(Exception):
    """A request that got no answer, or an answer that is not a success; one line."""


# -- describing (dry run, docs, the audit trail): the plan's text, never resolved values ----


def describe(step: Any) -> str:
    """The request as written: `METHOD URL`, then a line per header, then the JSON body."""
    r: Request = step.http
    lines = [f"{r.method} {r.url}"]
    lines += [f"{name}: {value}" for name, value in r.headers.items()]
    if r.json_body is not None:
        lines.append(_compact(r.json_body))
    return "\n".join(lines)


# -- running --------------------------------------------------------------------------------


def run(ctx: StepContext, step: Any) -> dict[str, Any]:
    """Call the endpoint; anything but a 2xx answer fails the step. Memo: status and time."""
    request: Request = step.http
    method, url, response, elapsed = _call(ctx, request)
    if not 200 <= response.status_code < 300:
        raise HttpCallFailed(
            f"{method} {url} answered {_status_text(response)}{_body_note(ctx, response)}"
        )
    return {"status": response.status_code, "elapsed_ms": elapsed}


def undo(ctx: StepContext, step: Any, memo: Any) -> None:
    """An HTTP call is not taken back by default: give the step a `rollback` if it must be."""


def evaluate(ctx: CheckContext, check: Any) -> CheckOutcome:
    """Call the endpoint; compare its status, then the subset of its JSON that `expect` gives."""
    request: Request = check.http
    expectation: ResponseExpectation = check.expect
    expected_json = map_strings(expectation.json_subset, ctx.interpolate)  # keys as written
    expected: dict[str, Any] = {
        "status": expectation.status if expectation.status is not None else "2xx"
    }
    if expectation.json_subset is not None:
        expected["json"] = expected_json
    if ctx.dry_run and request.method not in _SAFE_METHODS:
        return CheckOutcome(
            False, None, expected, f"not called in a dry run: {request.method} may change things"
        )
    _, _, response, _ = _call(ctx, request)
    body, is_json = _json_of(response)
    actual: dict[str, Any] = {"status": response.status_code}
    if is_json:
        actual["json"] = _small(ctx, body)
    status_ok = (
        response.status_code == expectation.status
        if expectation.status is not None
        else 200 <= response.status_code < 300
    )
    if not status_ok:
        detail = f"status: expected {expected['status']}, got {_status_text(response)}"
        return CheckOutcome(False, actual, expected, detail + _body_note(ctx, response))
    if expectation.json_subset is None:
        return CheckOutcome(True, actual, expected)
    if not is_json:
        return CheckOutcome(
            False, actual, expected, "the response is not JSON" + _body_note(ctx, response)
        )
    mismatch = first_mismatch(expected_json, body, shown=lambda v: _shown(ctx, v))
    return CheckOutcome(mismatch is None, actual, expected, mismatch or "")


def _call(ctx: StepContext, request: Request) -> tuple[str, str, Any, int]:
    """Send the request with its templates resolved: (method, url, response, elapsed ms)."""
    import httpx

    url = ctx.interpolate(request.url)
    headers = {name: ctx.interpolate(value) for name, value in request.headers.items()}
    body = map_strings(request.json_body, ctx.interpolate)  # keys as written
    method = request.method
    started = time.monotonic()
    try:
        with httpx.Client(timeout=request.timeout, follow_redirects=False) as client:
            response = client.request(
                method,
                url,
                headers=headers,
                json=body if request.json_body is not None else None,
            )
    except httpx.TimeoutException as exc:
        raise HttpCallFailed(
            f"{method} {url}: no answer within {request.timeout:g}s ({type(exc).__name__})"
        ) from exc
    except httpx.ConnectError as exc:
        reason = _one_line(ctx.mask(str(exc)))
        raise HttpCallFailed(f"{method} {url}: cannot connect: {reason}") from exc
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        reason = _one_line(ctx.mask(str(exc))) or type(exc).__name__
        raise HttpCallFailed(f"{method} {url}: {reason}") from exc
    return method, url, response, round((time.monotonic() - started) * 1000)


# -- comparing ------------------------------------------------------------------------------


def first_mismatch(
    expected: Any, actual: Any, path: str = "", shown: Callable[[Any], str] | None = None
) -> str | None:
    """Where `actual` does not contain `expected`, as `path: expected X, got Y`; None if it does.

    Objects match by a subset of keys, arrays element by element (same length),
    anything else by equality (`true` is not `1`). `shown` writes a value in the message
    (masked and cut short by the check; by default cut short alone).
    """
    show = shown or _shown_plain
    where = path or "json"
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{where}: expected an object, got {show(actual)}"
        for key, value in expected.items():
            inner = _join(path, key)
            if key not in actual:
                return f"{inner}: missing (expected {show(value)})"
            found = first_mismatch(value, actual[key], inner, show)
            if found is not None:
                return found
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return f"{where}: expected an array, got {show(actual)}"
        if len(expected) != len(actual):
            return f"{where}: expected {len(expected)} items, got {len(actual)}"
        for index, (e, a) in enumerate(zip(expected, actual, strict=True)):
            inner = f"{path}[{index}]" if path else f"json[{index}]"
            found = first_mismatch(e, a, inner, show)
            if found is not None:
                return found
        return None
    if _same_scalar(expected, actual):
        return None
    return f"{where}: expected {show(expected)}, got {show(actual)}"


def _same_scalar(expected: Any, actual: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if isinstance(actual, dict | list):
        return False
    return bool(expected == actual)


def _join(path: str, key: Any) -> str:
    text = str(key)
    if text.isidentifier():
        return f"{path}.{text}" if path else text
    return f"{path}[{json.dumps(text)}]" if path else f"json[{json.dumps(text)}]"


# -- helpers --------------------------------------------------------------------------------


def _json_of(response: Any) -> tuple[Any, bool]:
    if not response.content:
        return None, False
    try:
        return response.json(), True
    except ValueError:
        return None, False


def _status_text(response: Any) -> str:
    phrase = getattr(response, "reason_phrase", "")
    return f"{response.status_code} {phrase}".strip()


def _body_note(ctx: StepContext, response: Any) -> str:
    location = response.headers.get("location")
    if location and 300 <= response.status_code < 400:
        note = f" (location: {ctx.shorten(_one_line(ctx.mask(location)), EXCERPT_CHARS)})"
    else:
        note = ""
    excerpt = _excerpt(ctx, response)
    return note + (f": {excerpt}" if excerpt else "")


def _excerpt(ctx: StepContext, response: Any) -> str:
    """The start of the body on one line: masked before its spaces are joined (a secret
    holding a newline still matches) and before it is cut."""
    try:
        text = response.text
    except Exception:  # an undecodable body: say how big it is instead
        return f"<{len(response.content)} bytes>"
    return ctx.shorten(_one_line(ctx.mask(text)), EXCERPT_CHARS)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)


def _shown_plain(value: Any) -> str:
    """A value in a mismatch message as JSON writes it (a string in double quotes)."""
    text = _compact(value)
    return text if len(text) <= 80 else text[:79] + "…"


def _shown(ctx: StepContext, value: Any) -> str:
    """A value in a mismatch message as JSON writes it, masked before it is cut."""
    text = _compact(value)
    return ctx.shorten(text, 80)


def _small(ctx: StepContext, value: Any, depth: int = 0) -> Any:
    """A response body cut down to be recorded beside the expectation (masked, then cut)."""
    if isinstance(value, str):
        return ctx.shorten(value, EXCERPT_CHARS)
    if depth >= 6 and isinstance(value, dict | list):
        return "…"
    if isinstance(value, dict):
        items = list(value.items())
        out = {str(k): _small(ctx, v, depth + 1) for k, v in items[:30]}
        if len(items) > 30:
            out["…"] = f"{len(items) - 30} more keys"
        return out
    if isinstance(value, list):
        head = [_small(ctx, v, depth + 1) for v in value[:20]]
        return head + ([f"… {len(value) - 20} more items"] if len(value) > 20 else [])
    return value
