"""One service's contract as its messages' models: what clients, guards and dispatchers
check against."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from .exceptions import DeclaredError, ValidationError
from .messages import check


@dataclass(frozen=True)
class Contract:
    """The models of service `name`'s requests, replies, declared errors and events."""

    name: str
    requests: dict[str, type[BaseModel]]
    replies: dict[str, type[BaseModel]]
    errors: dict[str, type[DeclaredError[Any]]] = field(default_factory=dict)
    events: dict[str, type[BaseModel]] = field(default_factory=dict)

    def method(self, method: str) -> str:
        """`method`, if the contract has it; else a `LookupError` naming what it has."""
        if method not in self.requests:
            raise LookupError(
                f"{self.name} has no method {method!r}; its methods: {sorted(self.requests)}"
            )
        return method

    def event(self, event: str) -> str:
        """`event`, if the contract has it; else a `LookupError` naming what it has."""
        if event not in self.events:
            raise LookupError(
                f"{self.name} has no event {event!r}; its events: {sorted(self.events)}"
            )
        return event

    def request(self, method: str, kwargs: dict[str, Any]) -> BaseModel:
        """`method`'s arguments by name (JSON data), checked; optional ones given as `None`
        are taken out of `kwargs`, so that what is sent is what was checked."""
        model = self.requests[method]
        for name, info in model.model_fields.items():
            key = info.alias or name
            if not info.is_required() and kwargs.get(key, 0) is None:
                del kwargs[key]
        return check(model, kwargs, self.name, method, "request")

    def reply(self, method: str, result: Any) -> BaseModel:
        """`method`'s result, checked."""
        return check(self.replies[method], result, self.name, method, "reply")

    def declared(self, method: str, error: BaseException) -> None:
        """Raise `ValidationError` if `error` is `method`'s declared error with a payload
        that breaks the contract."""
        declared = self.errors.get(method)
        if declared is None or not isinstance(error, declared):
            return
        try:
            check(
                declared.payload_type, error.payload_data(), self.name, method, "error"
            )
        except ValidationError as invalid:
            raise invalid from error

    def payload(self, event: str, data: Any) -> BaseModel:
        """`event`'s payload, checked."""
        return check(self.events[event], data, self.name, event, "event")
