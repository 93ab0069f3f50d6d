"""Rewriting pydantic's validation errors as messages for people."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ValidationError

from aegis.errors import ConfigError


def _field_names(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def _owners_of(field: str) -> list[str]:
    """The configuration classes of installed providers that do have ``field``."""
    from aegis.registry import get_registry

    return [
        entry.provider.config_class.__name__
        for entry in get_registry().all()
        if field in entry.provider.config_class.model_fields
    ]


def describe(error: Any, model: type[BaseModel]) -> tuple[str, str, str | None]:
    """``(field, message, hint)`` for one entry of ``ValidationError.errors()``."""
    loc = ".".join(str(part) for part in error.get("loc", ())) or "(value)"
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    value = error.get("input")
    harness = getattr(model, "harness", None)  # a provider's; Agent's is a property
    name = harness if isinstance(harness, str) else model.__name__
    if kind == "extra_forbidden":
        owners = [owner for owner in _owners_of(loc) if owner != model.__name__]
        message = f"{name} has no field {loc!r}"
        if owners:
            message += f"; only {', '.join(owners)} has it"
        hint = f"its fields are: {', '.join(_field_names(model))}"
        close = difflib.get_close_matches(loc, _field_names(model), n=1)
        if close and not owners:
            hint = f"did you mean {close[0]!r}? {hint}"
        return loc, message, hint
    if kind == "enum":
        expected = ctx.get("expected", "")
        return loc, f"{value!r} is not a valid {loc}", f"allowed values: {expected}"
    if kind == "literal_error":
        return loc, f"{value!r} is not allowed", f"allowed values: {ctx.get('expected', '')}"
    if kind == "missing":
        return loc, "is required but missing", f"give {model.__name__}({loc}=...)"
    message = str(error.get("msg", "is invalid"))
    message = message.removeprefix("Value error, ")
    if value is not None and kind not in ("value_error", "assertion_error"):
        message += f" (got {value!r})"
    return loc, message, _expected(model, error.get("loc", ()))


def _expected(model: type[BaseModel], loc: Any) -> str:
    """A hint naming the type the field at ``loc`` expects."""
    top = str(loc[0]) if loc else ""
    field = model.model_fields.get(top)
    if field is None:
        return f"see the fields of {model.__name__}: {', '.join(_field_names(model))}"
    annotation = field.annotation
    shown = getattr(annotation, "__name__", None) if isinstance(annotation, type) else None
    return f"{model.__name__}.{top} takes {shown or annotation}"


def validation_to_config_error(exc: ValidationError, model: type[BaseModel]) -> ConfigError:
    """One ``ConfigError`` for a ``ValidationError`` raised by ``model``.

    The first problem decides the field and hint; further problems are listed in the
    message, so that one run of ``aegis config check`` shows them all.
    """
    problems = [describe(error, model) for error in exc.errors()]
    field, message, hint = problems[0]
    for other_field, other_message, other_hint in problems[1:]:
        message += f"; {other_field}: {other_message}"
        if other_hint:
            hint = f"{hint}; {other_field}: {other_hint}" if hint else other_hint
    return ConfigError(message, field=field, hint=hint)
