"""Checks for a Python Nameko implementation of a contract.

`@<service>.guard.rpc` under Nameko's `@rpc` checks each request before the method runs,
hands the method its arguments as the contract's models, and checks the reply (or declared
error) before it leaves. `@<service>.guard.event("name")` under `@event_handler` checks an
event before the handler sees it. A message that breaks the contract fails with
`ValidationError` (`exceptions`), the error a Rust service sends: Rust and Python
callers decode it as theirs.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar, cast

from nameko.exceptions import IncorrectSignature  # type: ignore[import-untyped]

from .contract import Contract
from .messages import encode, value

F = TypeVar("F", bound=Callable[..., Any])


class Guard:
    """The decorators that hold a Python service to `contract`."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract

    def rpc(self, method: F) -> F:
        """Check `method` (named as the contract's method) in and out."""
        contract = self.contract
        name = contract.method(method.__name__)
        signature = inspect.signature(method)
        fields = contract.requests[name].model_fields

        @functools.wraps(method)
        def checked(service: Any, *args: Any, **kwargs: Any) -> Any:
            # Nameko binds the arguments to this wrapper, which takes any: bind them to the
            # method, as Nameko would, and answer as Nameko does when they do not.
            try:
                bound = signature.bind(service, *args, **kwargs)
            except TypeError as error:
                raise IncorrectSignature(str(error)) from None
            arguments = dict(bound.arguments)
            arguments.pop(next(iter(signature.parameters)))
            request = contract.request(name, encode(arguments))
            typed = {
                info.alias or field: getattr(request, field)
                for field, info in fields.items()
            }
            try:
                result = method(service, **typed)
            except Exception as error:
                contract.declared(name, error)
                raise
            reply = encode(result)
            contract.reply(name, reply)
            return reply

        return cast(F, checked)

    def event(self, event: str) -> Callable[[F], F]:
        """Check `event`'s payload before the decorated handler sees it as its model."""
        contract = self.contract
        contract.event(event)

        def decorate(handler: F) -> F:
            @functools.wraps(handler)
            def checked(service: Any, payload: Any) -> Any:
                return handler(service, value(contract.payload(event, payload)))

            return cast(F, checked)

        return decorate
