"""The strings in nested data (dicts and lists, as YAML and JSON give them): found or changed.

One walk for everything that looks into such data: masking secrets in an event,
interpolating `${...}` in an HTTP body, finding the `${env:...}` a plan names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

Path = tuple[str | int, ...]
"""Where a value is: the keys and list indexes from the top."""


def strings_in(data: Any, path: Path = ()) -> Iterator[tuple[Path, str]]:
    """Every string value in `data` (not the keys), with its path, in order."""
    if isinstance(data, str):
        yield path, data
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from strings_in(value, (*path, key))
    elif isinstance(data, list | tuple):
        for index, value in enumerate(data):
            yield from strings_in(value, (*path, index))


def map_strings(data: Any, change: Callable[[str], str], *, keys: bool = False) -> Any:
    """The same structure with `change` applied to every string (lists for tuples).

    `keys`: the keys of dicts too (each made a string first); else they stay as written.
    """
    if isinstance(data, str):
        return change(data)
    if isinstance(data, dict):
        return {
            (change(str(k)) if keys else k): map_strings(v, change, keys=keys)
            for k, v in data.items()
        }
    if isinstance(data, list | tuple):
        return [map_strings(v, change, keys=keys) for v in data]
    return data
