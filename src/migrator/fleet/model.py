"""The fleet file: its targets, its waves, its ledger; loaded with the place of every error.

```yaml
fleet: tenants
targets:                    # a list; or {query: SQL, dsn: DSN}; or {file: targets.yaml}
  - {name: internal, dsn: "${env:INTERNAL_DSN}", group: canary}
  - {name: acme, dsn: "postgresql://...", vars: {region: eu}}
waves:                      # in order; a target joins the first wave that matches it
  - {name: canary, match: {group: canary}, parallel: 1, bake: 10m}
  - {name: rest, parallel: 4, max_failures: 0}
ledger: "${env:LEDGER_DSN}"  # optional: a table there instead of a file beside this one
retry: {attempts: 3, backoff: 5s}   # exit 4 and 5, per target, waits doubling
```
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import Discriminator, Field, Tag, ValidationError, field_validator, model_validator

from migrator.errors import PlanError, Problem
from migrator.plan.fields import Duration, Strict
from migrator.plan.source import PathKey, SourceDocument, load_yaml

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
"""A target's or a wave's name: a file name, a Kubernetes label value, a Secret's key."""
_NAME = re.compile(NAME_PATTERN)

Name = Annotated[str, Field(pattern=NAME_PATTERN)]


def name_problem(name: object) -> str | None:
    """Why `name` cannot name a target or a wave (None: it can)."""
    if not isinstance(name, str) or not _NAME.match(name):
        return (
            "a name is 1 to 63 letters, digits, '_', '.' or '-', starting with a letter or a digit"
        )
    return None


class TargetSpec(Strict):
    """One target as the fleet file (or its targets file) lists it."""

    name: Name
    dsn: str = Field(min_length=1)
    group: Name | None = None
    vars: dict[str, str] = Field(default_factory=dict)

    @field_validator("vars", mode="before")
    @classmethod
    def _text_values(cls, value: Any) -> Any:
        """A var is passed as `--var NAME=VALUE`: numbers and booleans as they read."""
        if isinstance(value, dict):
            return {
                k: ("true" if v is True else "false" if v is False else str(v))
                if isinstance(v, int | float | bool)
                else v
                for k, v in value.items()
            }
        return value


class TargetQuery(Strict):
    """Targets read from a control database: rows of `name, dsn[, group][, vars]`."""

    query: str = Field(min_length=1)
    dsn: str = Field(min_length=1)


class TargetFile(Strict):
    """Targets listed in another YAML file (relative to the fleet file), as a list."""

    file: str = Field(min_length=1)


class Match(Strict):
    """Which targets a wave takes: by group, by name, or both (each one name or a list;
    `*` and `?` as in file names)."""

    group: str | list[str] | None = None
    name: str | list[str] | None = None

    @model_validator(mode="after")
    def _something(self) -> Match:
        if self.group is None and self.name is None:
            raise ValueError("match names a group or a name; leave match out to take every target")
        return self


class WaveSpec(Strict):
    name: Name
    match: Match | None = None
    parallel: int = Field(1, ge=1, le=256)
    max_failures: int = Field(0, ge=0)
    bake: Duration | None = None
    approval: bool = False


class Retry(Strict):
    """How a target ending with exit 4 (locked) or 5 (unreachable) is tried again."""

    attempts: int = Field(3, ge=0, le=100)
    backoff: Duration = 5.0
    """The first wait; each next one doubles, up to `longest`."""
    longest: Duration = 60.0


def _targets_kind(value: Any) -> str | None:
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "query" if "query" in value else "file" if "file" in value else None
    return None


Targets = Annotated[
    Annotated[list[TargetSpec], Tag("list")]
    | Annotated[TargetQuery, Tag("query")]
    | Annotated[TargetFile, Tag("file")],
    Discriminator(
        _targets_kind,
        custom_error_type="targets",
        custom_error_message=(
            "targets is a list of {name, dsn[, group][, vars]}, or {query: SQL, dsn: DSN}, "
            "or {file: PATH}"
        ),
    ),
]


class FleetSpec(Strict):
    fleet: Name
    targets: Targets
    waves: list[WaveSpec] = Field(
        default_factory=lambda: [WaveSpec(name="all", parallel=1, max_failures=0)],
        min_length=1,
    )
    ledger: str | None = None
    retry: Retry = Field(default_factory=lambda: Retry.model_validate({}))
    timeout: Duration = 10.0
    """How long `fleet status` waits for one target."""

    @field_validator("ledger")
    @classmethod
    def _a_dsn(cls, ledger: str | None) -> str | None:
        """`ledger:` names a database; a file path there is a mistake worth naming."""
        if ledger is None or "${" in ledger or "://" in ledger or "=" in ledger:
            return ledger
        raise ValueError(
            "ledger is the DSN of a database (postgresql://... or host=... dbname=...) to keep "
            "the ledger in; leave it out to keep it in a file beside the fleet file"
        )


@dataclass(frozen=True)
class Fleet:
    """A loaded fleet file: `spec` as validated, `file` where it is, `source` its YAML
    with the position of every value (errors about targets point into it)."""

    spec: FleetSpec
    file: Path
    source: SourceDocument

    @property
    def name(self) -> str:
        return self.spec.fleet

    @property
    def waves(self) -> list[WaveSpec]:
        return self.spec.waves

    def problem(self, path: PathKey, message: str) -> PlanError:
        return PlanError([self.source.problem(path, message)])


def load_fleet(path: str | Path) -> Fleet:
    """Read and validate a fleet file; PlanError (exit 2) with every problem, each at its
    FILE:LINE:COL."""
    file = Path(path)
    document = read_yaml(file, "fleet file")
    if not isinstance(document.data, dict):
        raise PlanError(
            [document.problem((), "a fleet file is a mapping (fleet:, targets:, waves:)")]
        )
    try:
        spec = FleetSpec.model_validate(document.data)
    except ValidationError as exc:
        raise PlanError(validation_problems(exc, document)) from None
    if isinstance(spec.targets, list):
        duplicates(document, [t.name for t in spec.targets], ("targets",))
    duplicates(document, [w.name for w in spec.waves], ("waves",), "waves")
    return Fleet(spec, file, document)


MAX_FILE_BYTES = 16 * 2**20
"""A fleet file or targets file larger than this is refused (16 MB)."""


def read_yaml(file: Path, what: str) -> SourceDocument:
    """A YAML file as a `SourceDocument`; PlanError naming the file if it cannot be read,
    is not a regular file (a device, a FIFO: read without end) or is over `MAX_FILE_BYTES`."""
    import stat

    def refused(why: str) -> PlanError:
        return PlanError([Problem(str(file), 1, 1, "", f"cannot read the {what}: {why}")])

    try:
        mode = file.stat().st_mode
        if not stat.S_ISREG(mode):
            raise refused("it is not a regular file")
        with file.open("rb") as stream:
            data = stream.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise refused(f"it is over {MAX_FILE_BYTES // 2**20} MB")
        text = data.decode("utf-8")
    except OSError as exc:
        raise PlanError(
            [Problem(str(file), 1, 1, "", f"cannot read the {what}: {exc.strerror or exc}")]
        ) from None
    except UnicodeDecodeError as exc:
        raise PlanError(
            [Problem(str(file), 1, 1, "", f"the {what} is not UTF-8 text: {exc.reason}")]
        ) from None
    if all(not line.strip() or line.lstrip().startswith("#") for line in text.splitlines()):
        raise PlanError([Problem(str(file), 1, 1, "", f"the {what} is empty")])
    return load_yaml(text, str(file))


def duplicates(
    document: SourceDocument, names: list[str], where: PathKey, what: str = "targets"
) -> None:
    """PlanError at the name of the second of two targets (or waves) of the same name."""
    seen: set[str] = set()
    for index, name in enumerate(names):
        if name in seen:
            raise PlanError(
                [document.problem((*where, index, "name"), f"two {what} are named '{name}'")]
            )
        seen.add(name)


def validation_problems(exc: ValidationError, document: SourceDocument) -> list[Problem]:
    """Pydantic's errors as problems at their place in the file, one per place."""
    found: dict[tuple[int, int, str, str], Problem] = {}
    for error in exc.errors():
        path = _path(tuple(error["loc"]), document)
        kind = error["type"]
        if kind == "missing":
            problem = document.problem(path[:-1], f"missing required field '{path[-1]}'", key=True)
        elif kind == "extra_forbidden":
            problem = document.problem(path, f"unknown key '{path[-1]}'", key=True)
        else:
            message = str(error["msg"])
            for prefix, replacement in (("Value error, ", ""), ("Input should be", "must be")):
                if message.startswith(prefix):
                    message = replacement + message[len(prefix) :]
            if kind == "string_pattern_mismatch":
                message = name_problem(None) or message
            problem = document.problem(path, message)
        found.setdefault((problem.line, problem.column, problem.path, problem.message), problem)
    return sorted(found.values(), key=lambda p: (p.line, p.column))


_UNION_TAGS = {"list", "query", "file", "str", "list[str]"}


def _path(loc: tuple[str | int, ...], document: SourceDocument) -> PathKey:
    """Pydantic's location without the names it gives a union's members."""
    path: list[str | int] = []
    for part in loc:
        if (
            isinstance(part, str)
            and part in _UNION_TAGS
            and path
            and path[-1] in ("targets", "group", "name")
        ):
            continue
        path.append(part)
    return tuple(path)
