"""The metrics plugin's figures read back: an exposition parsed by Prometheus' own parser,
and the `api.Context` of a run with the metrics plugin's options (and more plugins)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from migrator import api
from tests.reporters import plugin_context


def read(path: Path) -> str:
    """A metrics file's text as written: no newline translated (`newline=""`)."""
    with open(path, encoding="utf-8", newline="") as file:
        return file.read()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, by name and labels (sorted), parsed by Prometheus."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(text: str, name: str, **labels: str) -> float | None:
    found = samples(text)
    return found.get((name, tuple(sorted(labels.items()))))


def context(database: str, *plugins: Any, **options: Any) -> api.Context:
    return plugin_context(database, {f"watcher{n}": p for n, p in enumerate(plugins)}, **options)
