"""Building experiment configs: sizes (smoke / quick / full) and ``key=value`` overrides."""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from typing import Any

__all__ = [
    "SIZES",
    "apply_overrides",
    "parse_value",
    "config_to_dict",
    "check_fields",
    "check_choices",
]

SIZES = ("smoke", "quick", "full")


def check_fields(
    config: Any,
    *,
    at_least_one: str = "",
    positive: str = "",
    non_negative: str = "",
    fractions: str = "",
) -> None:
    """Raise ValueError naming the first field of ``config`` out of its range: integers
    ``>= 1``, numbers ``> 0``, numbers ``>= 0``, or fractions in ``(0, 1)``. Each argument is
    a space-separated list of field names, e.g. ``check_fields(c, positive="lr sigma")``."""
    rules = (
        (at_least_one, lambda v: v >= 1, "must be >= 1"),
        (positive, lambda v: v > 0, "must be > 0"),
        (non_negative, lambda v: v >= 0, "must be >= 0"),
        (fractions, lambda v: 0 < v < 1, "must be in (0, 1)"),
    )
    for names, ok, requirement in rules:
        for name in names.split():
            value = getattr(config, name)
            if not ok(value):  # also false for NaN
                raise ValueError(f"{name} {requirement}, got {value}")
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{name} must be finite, got {value}")


def check_choices(config: Any, name: str, allowed: tuple[str, ...], what: str = "") -> None:
    """Raise ValueError unless the tuple field ``name`` is non-empty and every entry is in
    ``allowed``, naming the first unknown entry and the choices."""
    values = getattr(config, name)
    unknown = [v for v in values if v not in allowed]
    if unknown or not values:
        raise ValueError(
            f"unknown {what or name} {unknown[0] if unknown else None!r} in {name}; "
            f"choose from: {', '.join(allowed)}"
        )


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
            near = difflib.get_close_matches(key, names, n=1)
            hint = f"did you mean {near[0]!r}? " if near else ""
            raise ValueError(f"unknown config key {key!r}; {hint}valid keys: {', '.join(names)}")
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
