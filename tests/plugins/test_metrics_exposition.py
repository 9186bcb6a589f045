"""The metrics plugin's text format and pushgateway paths, without a database: hostile
label values escaped, secrets masked in every label, Prometheus' parser reading it all."""

from __future__ import annotations

import base64
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from migrator.plugin import CommandInfo, ProgressReport, RunEvent, RunInfo
from migrator_metrics.exposition import Family, grouping_path, number, render
from migrator_metrics.outlets import write_atomically
from migrator_metrics.tally import Tally
from tests.metrics import read

HOSTILE = 'plan "x" \\ y\nz} 1\r\n# TYPE broken counter'


def test_hostile_label_values_parse_back_as_they_were() -> None:
    family = Family("migrator_x_total", "counter", "help with \\ and\na newline")
    family.add(3, plan=HOSTILE, step="ü ✓")
    family.add(float("inf"), plan="p", step="")
    [parsed] = list(text_string_to_metric_families(render([family])))
    assert parsed.documentation == "help with \\ and\na newline"
    assert [(s.labels, s.value) for s in parsed.samples] == [
        ({"plan": HOSTILE.replace("\r\n", "\n"), "step": "ü ✓"}, 3.0),
        ({"plan": "p", "step": ""}, float("inf")),
    ]


def test_a_carriage_return_is_a_line_break_and_the_file_reads_back(tmp_path: Path) -> None:
    """The format escapes only backslash, double quote and line feed: a carriage return
    (alone or before a line feed) is written as a line feed, escaped, so that the file
    reads back with Python's universal newlines too."""
    family = Family("migrator_x_total", "counter", "help")
    family.add(1, plan=HOSTILE, step="a\rb\r")
    path = tmp_path / "m.prom"
    write_atomically(path, render([family]))
    assert b"\r" not in path.read_bytes()
    for text in (path.read_text(), read(path)):
        [parsed] = list(text_string_to_metric_families(text))
        [sample] = parsed.samples
        assert sample.labels == {"plan": HOSTILE.replace("\r\n", "\n"), "step": "a\nb\n"}


def test_numbers_as_the_format_writes_them() -> None:
    assert [number(v) for v in (3, 2.5, float("nan"), float("-inf"), 1e20)] == [
        "3",
        "2.5",
        "NaN",
        "-Inf",
        "1e+20",
    ]


def test_grouping_key_paths_encode_what_a_path_cannot_hold() -> None:
    assert (
        grouping_path("migrator", {"plan": "orders-v2"}) == "/metrics/job/migrator/plan/orders-v2"
    )
    encoded = base64.urlsafe_b64encode(b"a/b").decode()
    assert (
        grouping_path("migrator", {"plan": "a/b"}) == f"/metrics/job/migrator/plan@base64/{encoded}"
    )
    assert grouping_path("migrator", {"plan": ""}) == "/metrics/job/migrator/plan@base64/="


def test_every_label_is_masked() -> None:
    command = CommandInfo(
        command="apply",
        plan="p",
        plan_file="p.yaml",
        operator="dora",
        database="db:5432/app",
        mask=lambda text: text.replace("hunter22", "***"),
    )
    tally = Tally(command)
    run = RunInfo(command, 7, "go hunter22", "a", "b")
    tally.event(run, RunEvent("state", "prechecking", None, {}))
    tally.event(run, RunEvent("step", "done", "copy hunter22", {"seconds": 1.5}))
    tally.progress(run, ProgressReport("fill hunter22", 10, 20, 10, 1, 5.0))
    text = render(tally.families(0.0))
    assert "hunter22" not in text
    labels = [s.labels for f in text_string_to_metric_families(text) for s in f.samples if s.labels]
    assert {"plan": "p", "step": "copy ***"} in labels
    assert {"plan": "p", "step": "fill ***"} in labels
    assert any(label.get("transition") == "go ***" for label in labels)
