"""A tool's JSON Schema, checked where the converters read it: the keywords that hold schemas
or names have the right type (`properties` an object of schemas, `required` an array of strings,
`items` a schema, `anyOf`/`oneOf`/`allOf` arrays of schemas), at any depth, so a wrong type is a
400 naming the field for every family instead of a crash in a converter (Gemini's) or a request
the upstream refuses. The rest of the schema is the upstream's to judge."""

from __future__ import annotations

from typing import Any

from ftproxy.convert.base import ClientRequestError

_MAX_DEPTH = 64  # deeper schemas are refused by the nesting limit before this matters


def want_schema(value: Any, param: str) -> dict[str, Any]:
    """`value` if it is a schema object whose structural keywords have the right types."""
    stack: list[tuple[str, Any, int]] = [(param, value, 0)]
    while stack:
        where, schema, depth = stack.pop()
        if not isinstance(schema, dict):
            if isinstance(schema, bool) and where != param:
                continue  # true/false are valid sub-schemas in JSON Schema
            raise ClientRequestError(f"'{where}' must be an object (a JSON Schema)", where)
        if depth >= _MAX_DEPTH:
            continue
        properties = schema.get("properties")
        if "properties" in schema:
            if not isinstance(properties, dict):
                raise ClientRequestError(f"'{where}.properties' must be an object", f"{where}.properties")
            stack.extend((f"{where}.properties.{k}", v, depth + 1) for k, v in properties.items())
        if "required" in schema:
            required = schema["required"]
            if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
                raise ClientRequestError(
                    f"'{where}.required' must be an array of property names (strings)", f"{where}.required"
                )
        if "items" in schema:
            stack.append((f"{where}.items", schema["items"], depth + 1))
        for key in ("anyOf", "oneOf", "allOf"):
            if key in schema:
                options = schema[key]
                if not isinstance(options, list):
                    raise ClientRequestError(f"'{where}.{key}' must be an array of schemas", f"{where}.{key}")
                stack.extend((f"{where}.{key}[{i}]", v, depth + 1) for i, v in enumerate(options))
    return value
