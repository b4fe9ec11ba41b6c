"""Tool-call arguments generated from the tool's JSON schema, so that they validate against it.

A real model called with a forced tool answers with arguments that fit the tool's schema; agents
(Claude Code, Codex) validate them before running the tool. The simulator does the same,
deterministically: required properties present (when none are required, the first two), the
declared type (upper-case Vertex spellings too), `const` and `enum` respected, numbers within
`minimum`/`maximum`, strings within `minLength`/`maxLength` and of a few common `format`s,
arrays of `minItems` (at least one) items, `anyOf`/`oneOf` taken by their first non-null branch,
`allOf` merged. Keywords beyond these (`pattern`, `$ref`…) are not understood.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_MAX_DEPTH = 8
# Property names that get a plausible value rather than "sim".
_NAMED = {"location": "Paris", "city": "Paris", "place": "Paris"}
_FORMATS = {
    "date-time": "2025-01-01T00:00:00Z",
    "date": "2025-01-01",
    "time": "00:00:00Z",
    "email": "sim@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
}


def sample_arguments(schema: Mapping[str, Any] | None) -> dict[str, Any]:
    """An argument object for a tool whose input schema is `schema` (None: a weather-style call)."""
    if schema is None:
        return {"location": "Paris", "unit": "celsius"}
    value = sample_value(schema, "", 0)
    return value if isinstance(value, dict) else {}


def sample_value(schema: object, name: str, depth: int) -> Any:
    if not isinstance(schema, Mapping) or depth > _MAX_DEPTH:
        return _NAMED.get(name, "sim")
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    if isinstance(schema.get("allOf"), list):
        merged = _merge([s for s in schema["allOf"] if isinstance(s, Mapping)] + [schema])
        return sample_value({k: v for k, v in merged.items() if k != "allOf"}, name, depth + 1)
    for key in ("anyOf", "oneOf"):
        branches = schema.get(key)
        if isinstance(branches, list) and branches:
            branch = next((b for b in branches if _kind(b) != "null"), branches[0])
            return sample_value(branch, name, depth + 1)
    kind = _kind(schema)
    if kind == "object":
        return _object(schema, depth)
    if kind == "array":
        return _array(schema, name, depth)
    if kind in ("integer", "number"):
        return _number(schema, kind)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return _string(schema, name)


def _kind(schema: object) -> str:
    if not isinstance(schema, Mapping):
        return "string"
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if isinstance(k, str) and k.lower() != "null"), "null")
    if isinstance(kind, str):
        return kind.lower()
    if "properties" in schema:
        return "object"
    return "array" if "items" in schema else "string"


def _merge(schemas: list[Mapping[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for s in schemas:
        for key, value in s.items():
            if key == "properties" and isinstance(value, Mapping):
                out["properties"] = {**out.get("properties", {}), **value}
            elif key == "required" and isinstance(value, list):
                out["required"] = [*out.get("required", []), *value]
            else:
                out.setdefault(key, value)
    return out


def _object(schema: Mapping[str, Any], depth: int) -> dict[str, Any]:
    props = schema.get("properties")
    props = props if isinstance(props, Mapping) else {}
    required = [k for k in schema.get("required") or () if isinstance(k, str)]
    names = list(dict.fromkeys(required)) or list(props)[:2]
    return {name: sample_value(props.get(name), name, depth + 1) for name in names}


def _array(schema: Mapping[str, Any], name: str, depth: int) -> list[Any]:
    low = schema.get("minItems")
    high = schema.get("maxItems")
    count = max(low, 1) if isinstance(low, int) else 1
    if isinstance(high, int):
        count = min(count, high)
    items = schema.get("items")
    if isinstance(items, list):  # tuple form: one value per position
        return [sample_value(s, name, depth + 1) for s in items][: max(count, len(items))]
    return [sample_value(items, name, depth + 1) for _ in range(count)]


def _number(schema: Mapping[str, Any], kind: str) -> int | float:
    value: float = 1 if kind == "integer" else 1.5
    low, high = schema.get("minimum"), schema.get("maximum")
    x_low, x_high = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    step = 1 if kind == "integer" else 0.5
    if isinstance(low, (int, float)) and not isinstance(low, bool):
        value = max(value, low)
    if isinstance(x_low, (int, float)) and not isinstance(x_low, bool) and value <= x_low:
        value = x_low + step
    if isinstance(high, (int, float)) and not isinstance(high, bool):
        value = min(value, high)
    if isinstance(x_high, (int, float)) and not isinstance(x_high, bool) and value >= x_high:
        value = x_high - step
    return int(value) if kind == "integer" else float(value)


def _string(schema: Mapping[str, Any], name: str) -> str:
    fmt = schema.get("format")
    text = _FORMATS.get(fmt, "") if isinstance(fmt, str) else ""
    text = text or _NAMED.get(name, "sim")
    low, high = schema.get("minLength"), schema.get("maxLength")
    if isinstance(low, int) and len(text) < low:
        text = text + "x" * (low - len(text))
    if isinstance(high, int) and len(text) > high:
        text = text[:high]
    return text


__all__ = ["sample_arguments", "sample_value"]
