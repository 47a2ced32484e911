"""Validate what the sandbox answers against the vendors' published OpenAPI specs.

The specs live beside the project (`../shared/vendors/specs/`, never copied into it); a test that
needs one is skipped with the reason when the checkout has no such neighbour. OpenAPI 3.0's
`nullable` becomes a JSON Schema type union; vendor-only formats are not checked; an enum a
generator copied onto an array (its items keep it) is dropped.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

SPECS = Path(__file__).resolve().parents[1].parent / "shared" / "vendors" / "specs"


@cache
def load_spec(name: str) -> dict[str, Any]:
    path = SPECS / name
    if not path.exists():
        pytest.skip(f"vendor spec {path} is not available next to this checkout")
    return _nullable(json.loads(path.read_text()))


def _nullable(node: Any) -> Any:
    if isinstance(node, dict):
        node = {k: _nullable(v) for k, v in node.items()}
        if node.pop("nullable", False) and isinstance(node.get("type"), str):
            node["type"] = [node["type"], "null"]
        if node.get("type") == "array" and "enum" in node and "items" in node:
            # VAPI's generator repeats the items' enum on the array itself (serverMessages),
            # which no array can satisfy; the items carry the real constraint.
            node.pop("enum")
        return node
    if isinstance(node, list):
        return [_nullable(v) for v in node]
    return node


def schema_errors(spec_name: str, schema: dict[str, Any], instance: Any) -> list[str]:
    """Every way `instance` breaks `schema` (refs resolve against the spec's components)."""
    spec = load_spec(spec_name)
    wrapped = {**schema, "components": spec["components"]}
    # OpenAPI 3.1 schemas are JSON Schema 2020-12: `const` (ElevenLabs' discriminated
    # `oneOf`s) means nothing to Draft 4, which would find every such item ambiguous.
    dialect = (
        jsonschema_rs.Draft202012Validator
        if str(spec.get("openapi", "")).startswith("3.1")
        else jsonschema_rs.Draft4Validator
    )
    validator = dialect(wrapped, validate_formats=False)
    return [f"{list(e.instance_path)}: {e.message}" for e in validator.iter_errors(instance)]


def response_schema(spec_name: str, path: str, method: str, status: str) -> dict[str, Any]:
    operation = load_spec(spec_name)["paths"][path][method]
    return operation["responses"][status]["content"]["application/json"]["schema"]
