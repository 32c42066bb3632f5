"""The type of a Nameko dependency's attribute, as a worker sees it."""

from __future__ import annotations

from typing import Any, Generic, TypeVar, overload

T = TypeVar("T")


class Injected(Generic[T]):
    """A dependency provider whose attribute reads as `T` on a service instance.

    Nameko sets what the provider injects (a client, a publisher) on each worker's service
    instance, which hides the provider there; the class attribute stays the provider. This
    says so to type checkers: `self.users` is the client, `Service.users` the provider.
    """

    @overload
    def __get__(self, instance: None, owner: type[Any]) -> Injected[T]: ...
    @overload
    def __get__(self, instance: object, owner: type[Any]) -> T: ...
    def __get__(self, instance: object, owner: type[Any]) -> Any:
        return self
