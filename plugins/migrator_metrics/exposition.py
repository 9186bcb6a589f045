"""Prometheus' text exposition format (version 0.0.4), written by hand: a family's HELP and
TYPE lines, then one line per series, every label value escaped (backslash, double quote,
line feed; a carriage return, which the format does not escape, is written as a line
feed), so that no plan, transition or step name can break the file."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def escape_label(value: str) -> str:
    """`value` as a label value may hold it between double quotes."""
    text = _lines(value.encode("utf-8", "replace").decode("utf-8"))  # lone surrogate: ?
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    return _lines(text).replace("\\", "\\\\").replace("\n", "\\n")


def _lines(text: str) -> str:
    """`text` with each line break a line feed: CR LF and a lone CR alike."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def number(value: float) -> str:
    """A sample's value as the format writes it (`+Inf`, `NaN`, integers without `.0`)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


@dataclass
class Family:
    """A metric family: its name, type (`counter`, `gauge`), help and samples (labels,
    value), in the order added."""

    name: str
    kind: str
    help: str
    samples: list[tuple[tuple[tuple[str, str], ...], float]] = field(default_factory=list)

    def add(self, value: float, **labels: str) -> None:
        self.samples.append((tuple(labels.items()), value))

    def lines(self) -> Iterable[str]:
        yield f"# HELP {self.name} {escape_help(self.help)}"
        yield f"# TYPE {self.name} {self.kind}"
        for labels, value in self.samples:
            yield f"{self.name}{_labels(labels)} {number(value)}"


def _labels(labels: tuple[tuple[str, str], ...]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{escape_label(v)}"' for k, v in labels) + "}"


def render(families: Iterable[Family]) -> str:
    """The exposition of `families`, ending with a line feed."""
    return "".join(line + "\n" for family in families for line in family.lines())


def grouping_path(job: str, labels: Mapping[str, str]) -> str:
    """The pushgateway's path for a group: `/metrics/job/JOB/NAME/VALUE...`, a value with a
    `/` (or empty, or with a space) written `NAME@base64/URL-SAFE-BASE64`."""
    import base64
    from urllib.parse import quote

    parts = ["/metrics"]
    for name, value in [("job", job), *labels.items()]:
        if value == "":
            parts += [f"{name}@base64", "="]
        elif "/" in value or " " in value:
            encoded = base64.urlsafe_b64encode(value.encode("utf-8")).decode("ascii")
            parts += [f"{name}@base64", encoded]
        else:
            parts += [name, quote(value, safe="")]
    return "/".join(parts)
