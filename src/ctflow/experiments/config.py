"""Building experiment configs: sizes (smoke / quick / full) and ``key=value`` overrides."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

__all__ = ["SIZES", "apply_overrides", "parse_value", "config_to_dict"]

SIZES = ("smoke", "quick", "full")


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config dataclass (tuples become lists)."""
    return dataclasses.asdict(config)


def apply_overrides(config: Any, overrides: dict[str, Any]) -> Any:
    """Return a copy of ``config`` with fields replaced; string values are parsed by field type.

    Raises:
        ValueError: for an unknown key (listing the valid ones) or a value of the wrong type.
    """
    hints = typing.get_type_hints(type(config))
    names = [f.name for f in dataclasses.fields(config)]
    changes = {}
    for key, value in overrides.items():
        if key not in names:
            raise ValueError(f"unknown config key {key!r}; valid keys: {', '.join(names)}")
        changes[key] = parse_value(value, hints[key], key) if isinstance(value, str) else value
    return dataclasses.replace(config, **changes)


def parse_value(text: str, annotation: Any, key: str = "value") -> Any:
    """Parse ``text`` as ``annotation`` (int, float, bool, str, tuples of those, or optional)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if text.lower() in ("none", "null") and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return parse_value(text, inner[0], key)
    if origin is tuple:
        item = args[0] if args else str
        parts = [p.strip() for p in text.split(",") if p.strip()]
        return tuple(parse_value(p, item, key) for p in parts)
    if origin is typing.Literal:
        if text not in args:
            raise ValueError(f"{key} must be one of {', '.join(map(str, args))}, got {text!r}")
        return text
    try:
        if annotation is bool:
            lowered = text.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if annotation in (int, float, str):
            return annotation(text)
    except ValueError:
        name = getattr(annotation, "__name__", str(annotation))
        raise ValueError(f"{key} expects {name}, got {text!r}") from None
    raise ValueError(f"cannot set {key} of type {annotation} from the command line")
