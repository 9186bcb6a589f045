"""Checking what `migrator fleet export` writes: against Kubernetes' schemas (shipped by
kubernetes-validate, offline), against Argo's (vendored in tests/data/argo-workflows,
made strict: a key the schema does not name fails), and for secrets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.fleets import FleetDatabases

ARGO_SCHEMA = Path(__file__).parent / "data" / "argo-workflows" / "workflow.schema.json"


def no_secret_in(text: str, fleet: FleetDatabases) -> None:
    from migrator.db.target import Target

    for dsn in fleet.dsns.values():
        assert dsn not in text
        password = Target(dsn, "test").password
        assert password and password not in text


def k8s_validate(document: dict[str, Any]) -> None:
    import kubernetes_validate

    for version in ("1.29", "1.33"):
        kubernetes_validate.validate(document, version, strict=True)


def strict(schema: Any, parent: str | None = None) -> Any:
    """The schema with no property it does not name allowed (a misspelt key fails)."""
    if isinstance(schema, dict):
        found = {k: strict(v, k) for k, v in schema.items()}
        if parent != "properties" and "properties" in found:
            found.setdefault("additionalProperties", False)
        return found
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


def argo_errors(document: dict[str, Any]) -> list[str]:
    import jsonschema

    schema = strict(json.loads(ARGO_SCHEMA.read_text(encoding="utf-8")))
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]
