"""The errors both sides of a contract send and decode.

Their wire form is Nameko's error dict, with the structured part as JSON text after the
message in `exc_args`: Nameko's serializer keeps only strings intact there, and a Nameko
client re-raises a registered class as `cls(*exc_args)`. A Rust service sends the same
dicts, so either side decodes the other's errors into the same classes.
"""

from __future__ import annotations

import json
import sys
import types
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, TypeVar, cast

from pydantic import BaseModel

try:
    from nameko.exceptions import registry as _nameko_registry  # type: ignore[import-untyped]
except ImportError:  # models only, no Nameko installed
    _nameko_registry = {}

Direction = Literal["request", "reply", "error", "event"]


@dataclass(frozen=True)
class Failure:
    """One reason a message failed: a JSON pointer into the message, and why."""

    pointer: str
    reason: str


class ValidationError(Exception):
    """A message broke its contract.

    Raised by a typed client for a request it refuses to send or a reply it refuses to
    accept, by a guard for a request it refuses to run, and re-raised by Nameko clients
    when the service refused (its `exc_path` is `contracts.exceptions.ValidationError`).
    `service`, `method` (or event), `direction` and `failures` say which message failed
    and where.
    """

    def __init__(self, message: str, detail: str | None = None) -> None:
        super().__init__(message, *([detail] if detail is not None else []))
        self.message = message
        found: Any = {}
        if detail is not None:
            try:
                found = json.loads(detail)
            except ValueError:
                pass
        if not isinstance(found, dict):  # not ours: keep the message alone
            found = {}
        self.service: str = str(found.get("service", ""))
        self.method: str = str(found.get("method", ""))
        self.direction: str = str(found.get("direction", "request"))
        self.failures: list[Failure] = [
            Failure(str(f.get("pointer", "")), str(f.get("reason", "")))
            for f in found.get("failures", [])
            if isinstance(f, dict)
        ]

    @classmethod
    def of(
        cls, service: str, method: str, direction: Direction, failures: list[Failure]
    ) -> ValidationError:
        """The error for `failures` of `service.method`'s `direction` message, worded as
        the Rust side words it."""
        where = "; ".join(f"at {f.pointer or '(root)'}: {f.reason}" for f in failures)
        message = f"{service}.{method} {direction} does not match its contract: {where}"
        detail = {
            "service": service,
            "method": method,
            "direction": direction,
            "failures": [{"pointer": f.pointer, "reason": f.reason} for f in failures],
        }
        return cls(message, json.dumps(detail))

    def __str__(self) -> str:
        return self.message


def _wire_module(name: str) -> str:
    """The `__module__` under which a class's Nameko `exc_path` is `name.<Class>`.

    Nameko names an exception by `sys.modules[cls.__module__].__name__`; an error's path is
    a wire name (`contracts.exceptions.ValidationError`, a declared error's
    `<service>.<Type>`), whatever package the class lives in, so the class points at a
    stand-in module of that name, kept under a key of this package's own.
    """
    key = f"{__name__}.wire.{name}"
    if key not in sys.modules:
        sys.modules[key] = types.ModuleType(name)
    return key


# Its wire name is `contracts.exceptions.ValidationError` (what Rust services send), though
# the class lives in the generated package: Nameko clients re-raise it from Rust and Python
# services alike, and Nameko serializes it under that name when a guard raises it.
VALIDATION_ERROR = "contracts.exceptions.ValidationError"
ValidationError.__module__ = _wire_module(VALIDATION_ERROR.rpartition(".")[0])
_nameko_registry[VALIDATION_ERROR] = ValidationError

P = TypeVar("P", bound=BaseModel)


class DeclaredError(Exception, Generic[P]):
    """The base of a method's declared error: raise it with its typed payload.

    A subclass names its contract's `exc_path` and payload model; it is registered with
    Nameko under that path, so Nameko clients re-raise it from either side's replies, and
    Nameko serializes it under that path, so Rust clients decode it as the declared error.
    """

    exc_path: ClassVar[str]
    payload_type: ClassVar[type[BaseModel]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        module, _, name = cls.exc_path.rpartition(".")
        if name != cls.__name__:
            raise TypeError(
                f"{cls.__name__} must be named as its exc_path {cls.exc_path}"
            )
        cls.__module__ = _wire_module(module)
        _nameko_registry[cls.exc_path] = cls

    def __init__(self, payload: P | str, detail: str | None = None) -> None:
        if isinstance(payload, str):  # from the wire: (message, payload as JSON)
            message, self.detail = payload, detail or "null"
            self._payload: P | None = None
        else:
            self.detail = payload.model_dump_json(by_alias=True, exclude_unset=True)
            message, self._payload = self.detail, payload
        super().__init__(message, self.detail)
        self.message = message

    def payload_data(self) -> Any:
        """The payload as JSON data, as it travels (the text itself if it is not JSON)."""
        try:
            return json.loads(self.detail)
        except ValueError:
            return self.detail

    @property
    def payload(self) -> P:
        """The declared error's value, as its model (checked when it arrived)."""
        if self._payload is None:
            self._payload = cast(P, self.payload_type.model_validate_json(self.detail))
        return self._payload

    def __str__(self) -> str:
        return self.message
