"""A small JSON Schema checker for template output schemas.

`jsonschema` is not among the app's dependencies, and templates only need the common core of
JSON Schema, so this module implements that subset and refuses anything else when the template
loads (a schema keyword we would silently ignore is worse than a clear error):

    type (string or list of: object, array, string, number, integer, boolean, null),
    properties, required, additionalProperties (true/false), items, enum, const,
    minItems, maxItems, minLength, maxLength, minimum, maximum,
    title, description, default, examples (annotations only).
"""

from __future__ import annotations

from typing import Any

SUPPORTED_KEYWORDS = frozenset(
    {
        "type", "properties", "required", "additionalProperties", "items", "enum", "const",
        "minItems", "maxItems", "minLength", "maxLength", "minimum", "maximum",
        "title", "description", "default", "examples", "$schema",
    }
)  # fmt: skip
_TYPES = {"object", "array", "string", "number", "integer", "boolean", "null"}


def check_schema(schema: Any, where: str = "") -> None:
    """Raise `ValueError` naming the place when `schema` uses something this checker lacks."""
    here = f"{where}: " if where else ""
    if not isinstance(schema, dict):
        raise ValueError(f"{here}a JSON schema must be a mapping")
    unknown = sorted(set(schema) - SUPPORTED_KEYWORDS)
    if unknown:
        raise ValueError(
            f"{here}unsupported JSON schema keyword {unknown[0]!r} "
            f"(supported: type, properties, required, items, enum, ...)"
        )
    types = schema.get("type")
    for name in [types] if isinstance(types, str) else types or []:
        if name not in _TYPES:
            raise ValueError(f"{here}unknown type {name!r}")
    properties = schema.get("properties", {})
    if not isinstance(properties, dict):
        raise ValueError(f"{here}properties must be a mapping of property schemas")
    for key, sub in properties.items():
        check_schema(sub, f"{where}.properties.{key}".lstrip("."))
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise ValueError(f"{here}required must be a list of property names")
    if "items" in schema:
        check_schema(schema["items"], f"{where}.items".lstrip("."))
    if not isinstance(schema.get("additionalProperties", True), bool):
        raise ValueError(f"{here}additionalProperties: only true or false is supported")


def validate(value: Any, schema: dict[str, Any], path: str = "$") -> None:
    """Raise `ValueError("$.people[0]: expected string, got number")` when `value` does not fit."""
    types = schema.get("type")
    if types is not None:
        allowed = [types] if isinstance(types, str) else list(types)
        if not any(_is_type(value, t) for t in allowed):
            raise ValueError(f"{path}: expected {' or '.join(allowed)}, got {_type_name(value)}")
    if "const" in schema and value != schema["const"]:
        raise ValueError(f"{path}: must be {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        raise ValueError(f"{path}: must be one of {schema['enum']!r}")
    if isinstance(value, dict):
        _validate_object(value, schema, path)
    elif isinstance(value, list):
        _validate_array(value, schema, path)
    elif isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            raise ValueError(f"{path}: shorter than {schema['minLength']} characters")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise ValueError(f"{path}: longer than {schema['maxLength']} characters")
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            raise ValueError(f"{path}: below the minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            raise ValueError(f"{path}: above the maximum {schema['maximum']}")


def _validate_object(value: dict[str, Any], schema: dict[str, Any], path: str) -> None:
    properties = schema.get("properties", {})
    for name in schema.get("required", []):
        if name not in value:
            raise ValueError(f"{path}: missing required property {name!r}")
    if schema.get("additionalProperties", True) is False:
        extra = sorted(set(value) - set(properties))
        if extra:
            raise ValueError(f"{path}: unexpected property {extra[0]!r}")
    for name, sub in properties.items():
        if name in value:
            validate(value[name], sub, f"{path}.{name}")


def _validate_array(value: list[Any], schema: dict[str, Any], path: str) -> None:
    if len(value) < schema.get("minItems", 0):
        raise ValueError(f"{path}: fewer than {schema['minItems']} items")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        raise ValueError(f"{path}: more than {schema['maxItems']} items")
    if "items" in schema:
        for i, item in enumerate(value):
            validate(item, schema["items"], f"{path}[{i}]")


def _is_type(value: Any, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return _type_name(value) == name


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "integer" if isinstance(value, int) else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else type(value).__name__
