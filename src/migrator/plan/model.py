"""Plan models, composed from the action and check kinds that plugins register.

A step is a mapping with exactly one action key; which keys exist is up to the
plugins, so the step model is a union built per registry (one model per action
key, chosen by the key present). Checks are built the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Optional, Union, cast

from pydantic import (
    BaseModel,
    BeforeValidator,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    create_model,
)

from migrator.plan.fields import (
    GenericExpect,
    Risk,
    ServerTimeout,
    Soak,
    Strict,
    Wait,
    equals_query_rule,
)
from migrator.plan.source import SourceDocument
from migrator.plugin.registry import Registry

STEP_TAG = "{} step"
CHECK_TAG = "{} check"
IRREVERSIBLE_TAG = "irreversible rollback"
UNDO_STEPS_TAG = "rollback steps"


def _as_step_list(value: Any) -> Any:
    """`rollback` is one step, a list of steps, or the word `irreversible`."""
    if isinstance(value, dict):
        return [value]
    if isinstance(value, str) and value != "irreversible":
        raise ValueError(f"rollback is a step, a list of steps, or 'irreversible', not '{value}'")
    return value


def _rollback_kind(value: Any) -> str:
    return IRREVERSIBLE_TAG if value == "irreversible" else UNDO_STEPS_TAG


IGNORE_FORM = "a list of rule ids, or a mapping of rule id to the reason it is safe here"


def _ignore_form(value: Any) -> Any:
    """`ignore` is a list of rule ids or a mapping of rule id to its reason (a rule id with
    no reason, `ban-drop-column:`, is taken as in the list form); else one clear error."""
    if value is None:
        return None
    if isinstance(value, str):
        return _bad_ignore(f"not one id: write `ignore: [{value}]`")
    if isinstance(value, list):
        for item in value:
            if not isinstance(item, str) or not item:
                return _bad_ignore(f"{item!r} is not a rule id")
        return value
    if isinstance(value, dict):
        for rule, reason in value.items():
            if not isinstance(rule, str) or not rule:
                return _bad_ignore(f"{rule!r} is not a rule id")
            if reason is not None and not isinstance(reason, str):
                return _bad_ignore(f"the reason given for {rule} is not text")
        return {rule: reason or "" for rule, reason in value.items()}
    return _bad_ignore(f"not {type(value).__name__}")


def _bad_ignore(detail: str) -> Any:
    raise ValueError(f"must be {IGNORE_FORM}; {detail}")


Ignore = Annotated[
    list[Annotated[str, Field(min_length=1)]] | dict[str, str | None] | None,
    BeforeValidator(_ignore_form),
]


class StepBase(Strict):
    """Keys any step may carry beside its one action key."""

    action_key: ClassVar[str] = ""

    name: str | None = None
    description: str | None = None
    timeout: ServerTimeout | None = None
    lock_timeout: ServerTimeout | None = None
    retries: int = Field(0, ge=0, le=100)
    risk: Risk | None = None
    ignore: Ignore = Field(
        None,
        description="lint rules silenced for this step: a list of rule ids, or a mapping "
        "of rule id to the reason it is safe here",
    )

    if TYPE_CHECKING:
        # The field each action's step model adds (`_step_model`); undo steps have none.
        rollback: Literal["irreversible"] | list[StepBase] | None

    @property
    def action(self) -> Any:
        """The value under the action key (the action's own configuration)."""
        return getattr(self, self.action_key)

    def label(self, index: int) -> str:
        return self.name or f"{self.action_key} #{index + 1}"


class CheckBase(Strict):
    """Keys any check may carry beside its one check key and `expect`."""

    check_key: ClassVar[str] = ""

    name: str | None = None
    description: str | None = None
    on_fail: Literal["abort", "warn"] = "abort"
    wait: Wait | None = None
    soak: Soak | None = None

    @property
    def config(self) -> Any:
        return getattr(self, self.check_key)

    def label(self, index: int) -> str:
        return self.name or f"{self.check_key} #{index + 1}"

    @property
    def expectation(self) -> Any:
        """The check's `expect`, or None for checks that take none."""
        return getattr(self, "expect", None)


COMMON_STEP_KEYS = frozenset(StepBase.model_fields) | {"rollback"}
COMMON_CHECK_KEYS = frozenset(CheckBase.model_fields) | {"expect"}


def _chooser(keys: frozenset[str], tag: str) -> Any:
    def choose(value: Any) -> str | None:
        if isinstance(value, BaseModel):
            return tag.format(getattr(value, "action_key", "") or getattr(value, "check_key", ""))
        if not isinstance(value, dict):
            return None
        present = [k for k in value if k in keys]
        return tag.format(present[0]) if len(present) == 1 else None

    return choose


# The plan format is assembled at run time from what plugins register, so the
# types below are values built by pydantic, not static annotations: `Any` here.
_create_model: Any = create_model


def _union(models: Mapping[str, type[BaseModel]], tag: str) -> Any:
    if not models:
        return Annotated[dict[str, Any], Field(description="no plugin provides any key")]
    members = tuple(Annotated[m, Tag(tag.format(k))] for k, m in models.items())
    union: Any = Union[members]  # noqa: UP007
    return Annotated[union, Discriminator(_chooser(frozenset(models), tag))]


@dataclass(frozen=True)
class PlanModels:
    """The pydantic models of the plan format for one registry."""

    registry: Registry
    step: Any
    check: Any
    phased: type[BaseModel]
    hotfix: type[BaseModel]
    tags: frozenset[str]

    def json_schema(self) -> dict[str, Any]:
        either: Any = Union[self.phased, self.hotfix]  # noqa: UP007
        schema = TypeAdapter(either).json_schema()
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "migrator plan",
            **schema,
        }


def _step_model(key: str, spec: Any, *, with_rollback: Any) -> type[StepBase]:
    bases: tuple[type[BaseModel], ...] = (StepBase,)
    if spec.options is not None:
        bases = (StepBase, spec.options)
    fields: dict[str, Any] = {key: (spec.config, Field(..., description=spec.summary or None))}
    if with_rollback is not None:
        fields["rollback"] = (
            with_rollback,
            Field(None, description="the step(s) that undo this one, or 'irreversible'"),
        )
    suffix = "Step" if with_rollback is not None else "UndoStep"
    model: Any = _create_model(f"{_camel(key)}{suffix}", __base__=bases, **fields)
    model.action_key = key
    return cast(type[StepBase], model)


def _check_model(key: str, spec: Any) -> type[CheckBase]:
    expect_type: Any = spec.expect if spec.expect is not None else GenericExpect
    expect_default = ... if spec.expect_required else None
    if not spec.expect_required:
        expect_type = Optional[expect_type]  # noqa: UP045
    fields: dict[str, Any] = {key: (spec.config, Field(..., description=spec.summary or None))}
    validators: dict[str, Any] = {}
    if spec.accepts_expect:
        fields["expect"] = (expect_type, expect_default)
        if spec.expect is None and spec.language == "sql":  # SQL: equals_query may compare it
            validators["equals_query_compares_one_query"] = equals_query_rule(key)
    model: Any = _create_model(
        f"{_camel(key)}Check", __base__=CheckBase, __validators__=validators, **fields
    )
    model.check_key = key
    return cast(type[CheckBase], model)


def _camel(key: str) -> str:
    return "".join(part.capitalize() for part in key.split("_"))


def _build_models(registry: Registry) -> PlanModels:
    undo_steps = {k: _step_model(k, s, with_rollback=None) for k, s in registry.actions.items()}
    undo_union: Any = _union(undo_steps, STEP_TAG)
    rollback_choice: Any = Annotated[
        Union[  # noqa: UP007
            Annotated[Literal["irreversible"], Tag(IRREVERSIBLE_TAG)],
            Annotated[list[undo_union], Tag(UNDO_STEPS_TAG)],
        ],
        Discriminator(_rollback_kind),
    ]
    rollback_type = Annotated[rollback_choice, BeforeValidator(_as_step_list)]
    steps = {k: _step_model(k, s, with_rollback=rollback_type) for k, s in registry.actions.items()}
    step_union: Any = _union(steps, STEP_TAG)
    checks = {k: _check_model(k, s) for k, s in registry.checks.items()}
    check_union: Any = _union(checks, CHECK_TAG)

    common_lists: dict[str, Any] = {
        "pre_checks": (list[check_union], Field(default_factory=list)),
        "steps": (list[step_union], Field(default_factory=list)),
        "post_checks": (list[check_union], Field(default_factory=list)),
    }
    transition: Any = _create_model("TransitionDoc", __base__=TransitionFields, **common_lists)
    # the top-level keys plugins read (`notify:`), each optional
    plugin_keys: dict[str, Any] = {
        k: (Optional[spec.config], Field(None, description=spec.summary or None))  # noqa: UP045
        for k, spec in registry.plan_keys.items()
    }
    phased: Any = _create_model(
        "PhasedPlanDoc",
        __base__=PlanFields,
        kind=(Literal["phased"], "phased"),
        phases=(list[str], Field(..., min_length=2)),
        transitions=(list[transition], Field(..., min_length=1)),
        **plugin_keys,
    )
    hotfix: Any = _create_model(
        "HotfixPlanDoc",
        __base__=PlanFields,
        kind=(Literal["hotfix"], ...),
        risk=(Risk, "low"),
        approval=(bool, False),
        ignore=(
            Ignore,
            Field(
                None,
                description="lint rules about the hotfix as a whole (no-post-checks) "
                "silenced: a list of rule ids, or a mapping of rule id to the reason",
            ),
        ),
        **common_lists,
        **plugin_keys,
    )
    tags = {STEP_TAG.format(k) for k in steps} | {CHECK_TAG.format(k) for k in checks}
    tags |= {IRREVERSIBLE_TAG, UNDO_STEPS_TAG}
    return PlanModels(registry, step_union, check_union, phased, hotfix, frozenset(tags))


_built: dict[int, tuple[Registry, PlanModels]] = {}


def plan_models(registry: Registry) -> PlanModels:
    """The models for `registry`, built once per registry."""
    cached = _built.get(id(registry))
    if cached is None or cached[0] is not registry:
        cached = (registry, _build_models(registry))
        _built[id(registry)] = cached
    return cached[1]


Scalar = str | int | float | bool | None


class PlanFields(Strict):
    plan: str = Field(..., min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    description: str | None = None
    vars: dict[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")], Scalar] = Field(
        default_factory=dict
    )


class TransitionFields(Strict):
    name: str = Field(..., min_length=1)
    from_: str = Field(..., alias="from")
    to: str
    description: str | None = None
    risk: Risk = "low"
    approval: bool = False
    ignore: Ignore = Field(
        None,
        description="lint rules about the transition as a whole (no-post-checks) silenced "
        "for it: a list of rule ids, or a mapping of rule id to the reason it is safe here",
    )


@dataclass(frozen=True)
class Transition:
    """One move between phases. `reverts` names the transition whose steps it undoes."""

    name: str
    source: str
    target: str
    risk: str
    approval: bool
    description: str | None
    pre_checks: tuple[CheckBase, ...]
    steps: tuple[StepBase, ...]
    post_checks: tuple[CheckBase, ...]
    path: tuple[str | int, ...]
    reverts: str | None = None
    ignore: list[str] | dict[str, str | None] | None = None
    """The transition's own `ignore` (a hotfix's: the plan's): rules about it as a whole."""

    def heading(self) -> dict[str, Any]:
        """What every document of a transition opens with (the dry run, the runbook)."""
        return {
            "name": self.name,
            "from": self.source,
            "to": self.target,
            "risk": self.risk,
            "approval": self.approval,
            "description": self.description,
        }


@dataclass(frozen=True)
class Plan:
    """A loaded, validated plan: phases and transitions, whatever its kind in YAML."""

    name: str
    kind: Literal["phased", "hotfix"]
    description: str | None
    variables: dict[str, Any]
    phases: tuple[str, ...]
    transitions: tuple[Transition, ...]
    file: str
    checksum: str
    source: SourceDocument = field(repr=False, compare=False)
    settings: Mapping[str, Any] = field(default_factory=dict)
    """The top-level keys that plugins registered (`notify`), each its validated value."""

    @property
    def initial_phase(self) -> str:
        return self.phases[0]

    def transition(self, name: str) -> Transition:
        for t in self.transitions:
            if t.name == name:
                return t
        raise KeyError(name)
