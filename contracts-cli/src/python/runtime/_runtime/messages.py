"""A message checked as it crosses the wire: its JSON text against its Pydantic model.

Checking the JSON text, not the Python value, gives the schema's answer: strict types mean
what they mean in JSON (a date is a string there), and what is checked is exactly what is
sent or what arrived.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

import pydantic
from pydantic import BaseModel, RootModel

from .exceptions import Direction, Failure, ValidationError

M = TypeVar("M", bound=BaseModel)


def encode(value: Any) -> Any:
    """`value` as JSON data: models dumped by alias, containers walked, the rest as is."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_unset=True)
    if isinstance(value, dict):
        return {key: encode(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(item) for item in value]
    return value


def pointer(location: tuple[int | str, ...], data: Any) -> str:
    """A JSON pointer (RFC 6901) into `data` for a Pydantic error's location.

    Pydantic puts the branch tried (a class or type name) into the locations of a union's
    errors; those are no place in the message, so only the steps `data` has are kept (and
    the last, a missing field's name).
    """
    steps: list[str] = []
    node = data
    for index, part in enumerate(location):
        last = index == len(location) - 1
        if isinstance(node, dict) and (part in node or last):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            continue
        steps.append(str(part).replace("~", "~0").replace("/", "~1"))
    return "".join("/" + step for step in steps)


def failures(error: pydantic.ValidationError, data: Any) -> list[Failure]:
    """Where and why, never the offending values (they may be sensitive)."""
    return [
        Failure(pointer(e["loc"], data), e["msg"])
        for e in error.errors(include_url=False)
    ]


def check(
    model: type[M], data: Any, service: str, method: str, direction: Direction
) -> M:
    """`data` (JSON data) read as `model`, or `ValidationError` naming every failure."""
    try:
        return model.model_validate_json(json.dumps(data))
    except pydantic.ValidationError as error:
        raise ValidationError.of(
            service, method, direction, failures(error, data)
        ) from None
    except (TypeError, ValueError) as error:  # not JSON at all
        raise ValidationError.of(
            service, method, direction, [Failure("", f"not JSON: {error}")]
        ) from None


def whole_number(value: Any) -> Any:
    """A whole float as the integer it is (JSON Schema counts `5.0` an integer), before a
    strict integer check; anything else as it is, for the check to judge."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def not_null(value: Any) -> Any:
    """Refuses an explicit `null` for a field that may be left out but is not nullable (its
    default, `None`, is not checked, so leaving it out stays allowed)."""
    if value is None:
        raise ValueError("null is not allowed here; leave the field out instead")
    return value


def value(message: BaseModel) -> Any:
    """What a caller gets back: a root model's value, or the model itself."""
    return message.root if isinstance(message, RootModel) else message
