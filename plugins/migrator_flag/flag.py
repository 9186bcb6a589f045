"""The `flag` action and `flag_is` check, on whichever store the plan names.

A flag set from a secret (its value holds a `${env:...}` value, or any secret the run
knows) is marked so in `migrator.secret_flags`, by store and name: whoever reads it back
later (this action's value before, `flag_is`'s actual, an undo's message) masks it, even
a run that does not have the secret. The memo of a step that set or replaced such a
value names a row of `migrator.kept_flag_values` instead of holding the values: the
audit trail never has them, and the undo still puts back the exact value.

The undo is guarded: the memo records the value the step set, and before putting back
the earlier one the undo reads the flag; if someone changed or deleted it since, the
undo fails naming the difference (masked) and changes nothing. Memos from before the
guard (no `set`) are undone as they were.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from migrator import CheckContext, CheckOutcome, StepContext
from migrator.plugin import (
    MISSING,
    FlagStore,
    NotAsLeft,
    StepError,
    flag_is_secret,
    keep_flag_values,
    kept_flag_values,
    map_strings,
    mark_flag_secret,
)

SHOWN_CHARS = 120
"""How much of a flag's value a message quotes."""


class FlagSetting(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(..., min_length=1)
    value: Any = Field(..., description="any JSON value; true is stored as JSON true")
    store: str = Field(
        "table",
        description="table (migrator.flags, the default) or file:PATH (.json/.yaml), "
        "relative to the plan file",
    )


def describe(step: Any) -> str:
    f = step.flag
    where = "" if f.store == "table" else f" in {f.store}"
    return f"set flag {f.name} = {json.dumps(f.value)}{where}"


def describe_check(check: Any) -> str:
    f = check.flag_is
    where = "" if f.store == "table" else f" in {f.store}"
    return f"flag {f.name} is {json.dumps(f.value)}{where}"


def in_transaction(step: Any) -> bool:
    """Only the table store shares the step's transaction; a file is written at once."""
    return bool(step.flag.store == "table")


def _store(ctx: StepContext, location: str) -> FlagStore:
    assert ctx.hooks is not None, "steps run with the plugin manager's hooks"
    store = ctx.hooks.migrator_flag_store(location=location, plan_file=ctx.plan_file)
    if store is None:
        raise ValueError(f"no plugin keeps flags in {location!r}: use table or file:PATH")
    return store  # type: ignore[no-any-return]


def _key(location: str, store: FlagStore) -> str:
    """Which store a flag is in, the same whichever plan names it: `table`, or `file:`
    and the file's absolute path."""
    path = getattr(store, "path", None)
    return f"file:{os.path.abspath(path)}" if path is not None else location


def _value(ctx: StepContext, value: Any) -> Any:
    return ctx.interpolate(value) if isinstance(value, str) else value


def _holds_secret(ctx: StepContext, value: Any) -> bool:
    """Whether any string in `value` holds a secret the run knows."""
    return bool(map_strings(value, ctx.mask, keys=True) != value)


def _hide(ctx: StepContext, value: Any) -> None:
    """Make every string in `value` a secret of the run from now on."""

    def add(text: str) -> str:
        ctx.add_secret(text)
        return text

    map_strings(value, add, keys=True)


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON values (`true` is not `1`)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _shown(ctx: StepContext, value: Any) -> str:
    if value is MISSING:
        return "not set"
    return ctx.shorten(json.dumps(value, ensure_ascii=False), SHOWN_CHARS)


def run(ctx: StepContext, step: Any) -> Any:
    setting = step.flag
    store = _store(ctx, setting.store)
    key = _key(setting.store, store)
    conn = ctx.connection
    before = store.get(ctx, setting.name)
    existed = before is not MISSING
    was_secret = existed and (flag_is_secret(conn, key, setting.name) or _holds_secret(ctx, before))
    if was_secret:
        _hide(ctx, before)
    value = _value(ctx, setting.value)
    secret = _holds_secret(ctx, value)
    if secret:  # marked before it is written: a flag file written at once is never unmarked
        mark_flag_secret(conn, key, setting.name, True)
    store.set(ctx, setting.name, value)
    if not secret:
        mark_flag_secret(conn, key, setting.name, False)
    if was_secret or secret:
        kept = keep_flag_values(
            conn,
            ctx.run_id,
            key,
            setting.name,
            previous=before if existed else None,
            existed=existed,
            previous_secret=was_secret,
            value=value,
            value_secret=secret,
        )
        salt = secrets.token_hex(16)
        seal = _seal(salt, kept, kept_flag_values(conn, kept))
        return {"existed": existed, "secret": True, "kept": kept, "salt": salt, "seal": seal}
    memo: dict[str, Any] = {"existed": existed}
    if existed:
        memo["previous"] = before
    memo["set"] = value
    return memo


def _seal(salt: str, kept: int, values: dict[str, Any] | None) -> str:
    """A salted digest of the values kept for an undo, held in the memo: the memo is in
    the hash-chained audit trail, the kept row is not, so an edit of the row shows. (A
    digest, not the values: it says nothing of a secret with the entropy of a token.)"""
    record = json.dumps({"id": kept, **(values or {})}, sort_keys=True, default=str)
    return hashlib.sha256(f"{salt}:{record}".encode()).hexdigest()


def undo(ctx: StepContext, step: Any, memo: Any) -> None:
    """Put back exactly what was there: the earlier value, or no flag at all.

    Only if the flag still holds what the step set: changed or deleted since, the undo
    raises NotAsLeft naming the difference, and changes nothing."""
    setting = step.flag
    store = _store(ctx, setting.store)
    key = _key(setting.store, store)
    memo = memo if isinstance(memo, dict) else {}
    existed, previous, previous_secret = bool(memo.get("existed")), memo.get("previous"), False
    guarded, left = "set" in memo, memo.get("set")
    if "kept" in memo:
        kept = kept_flag_values(ctx.connection, int(memo["kept"]))
        if kept is None:
            raise NotAsLeft(
                f"flag {setting.name}",
                [
                    f"what its undo puts back (row {memo['kept']} of "
                    "migrator.kept_flag_values) is gone"
                ],
            )
        if "seal" in memo and _seal(str(memo.get("salt")), int(memo["kept"]), kept) != memo["seal"]:
            raise StepError(
                f"flag {setting.name}: what its undo would put back (row {memo['kept']} of "
                "migrator.kept_flag_values) was edited since its step; the undo changed nothing"
            )
        existed, previous = kept["existed"], kept["previous"]
        previous_secret = kept["previous_secret"]
        guarded, left = True, kept["value"]
        if previous_secret:
            _hide(ctx, previous)
        if kept["value_secret"]:
            _hide(ctx, left)
    if guarded:
        now = store.get(ctx, setting.name)
        if now is not MISSING and flag_is_secret(ctx.connection, key, setting.name):
            _hide(ctx, now)
        if now is MISSING or not _same(now, left):
            change = "was deleted" if now is MISSING else f"now holds {_shown(ctx, now)}"
            raise NotAsLeft(
                f"flag {setting.name}",
                [
                    f"the step set it to {_shown(ctx, left)} and it {change} (the undo "
                    f"would put back {_shown(ctx, previous) if existed else 'no flag'}); "
                    "settle the flag by hand, then run the rollback again"
                ],
            )
    if existed:
        if previous_secret:
            mark_flag_secret(ctx.connection, key, setting.name, True)
        store.set(ctx, setting.name, previous)
        if not previous_secret:
            mark_flag_secret(ctx.connection, key, setting.name, False)
    else:
        store.delete(ctx, setting.name)
        mark_flag_secret(ctx.connection, key, setting.name, False)


def evaluate(ctx: CheckContext, check: Any) -> CheckOutcome:
    setting = check.flag_is
    expected = _value(ctx, setting.value)
    store = _store(ctx, setting.store)
    actual = store.get(ctx, setting.name)
    if actual is MISSING:
        return CheckOutcome(False, None, expected, f"flag {setting.name} is not set")
    if flag_is_secret(ctx.connection, _key(setting.store, store), setting.name):
        _hide(ctx, actual)  # set from a secret by an earlier run: shown masked
    return CheckOutcome(_same(actual, expected), actual, expected)
