"""Typed events: a service's events as methods taking their payload models, checked before
they are published.

Inside a Nameko service implementing the contract, declare the generated
`<Service>Dispatcher` dependency (`events = UserServiceDispatcher()`, then
`self.events.user_created(UserCreated(...))`); elsewhere, `<Service>Events.standalone()`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from typing import Any, ClassVar, TypeVar

import nameko  # type: ignore[import-untyped]
from nameko.events import EventDispatcher  # type: ignore[import-untyped]

from .client import NAMEKO_3
from .contract import Contract
from .dependency import Injected
from .messages import encode

E = TypeVar("E", bound="Events")


class Events:
    """Publishes a service's events through `dispatch(event, payload)`, Nameko's."""

    contract: ClassVar[Contract]

    def __init__(self, dispatch: Callable[[str, Any], None]) -> None:
        self._dispatch = dispatch

    def _publish(self, event: str, payload: Any) -> None:
        data = encode(payload)
        self.contract.payload(event, data)
        self._dispatch(event, data)

    @classmethod
    def standalone(
        cls: type[E], config: dict[str, Any] | None = None, **options: Any
    ) -> E:
        """A publisher outside any Nameko service, as Nameko's standalone
        `event_dispatcher`: `config` is required by Nameko 2; Nameko 3 reads the global
        `nameko.config`, patched with `config` for each event."""
        name = cls.contract.name
        if NAMEKO_3:
            from nameko.standalone.events import event_dispatcher  # type: ignore[import-untyped]

            def patched() -> Any:
                return nameko.config.patch(config) if config else nullcontext()

            with patched():
                dispatch = event_dispatcher(**options)

            def publish(event: str, data: Any) -> None:
                with patched():
                    dispatch(name, event, data)

        else:
            from nameko.standalone.events import event_dispatcher

            dispatch = event_dispatcher(config or {}, **options)

            def publish(event: str, data: Any) -> None:
                dispatch(name, event, data)

        return cls(publish)


class ServiceEvents(EventDispatcher, Injected[E]):  # type: ignore[misc]
    """A Nameko dependency publishing the contract's events from the service that
    implements it (events leave through `<service>.events`, so the hosting service must
    be the contract's)."""

    events: ClassVar[type[Events]]

    def setup(self) -> None:
        hosting, name = self.container.service_name, self.events.contract.name
        if hosting != name:
            raise TypeError(
                f"{hosting} cannot publish {name}'s events: they leave from {name}"
            )
        super().setup()

    def get_dependency(self, worker_ctx: Any) -> Events:
        return self.events(super().get_dependency(worker_ctx))
