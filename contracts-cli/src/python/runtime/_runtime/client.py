"""Typed calls: a service's methods with the contract's parameters and types, through any
Nameko RPC proxy (Nameko 2) or client (Nameko 3).

A generated `<Service>Client` wraps a proxy to the service: inside a Nameko service through
the generated `<Service>Rpc` dependency, standalone through `<Service>Client.standalone()`,
or around `cluster.<service>` of a `ClusterRpcProxy` / `ClusterRpcClient` you already hold.
Each call checks its request before sending it and its reply (or declared error) before
returning it; a failure is a `ValidationError` (`exceptions`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any, ClassVar, Generic, TypeVar, cast

import nameko  # type: ignore[import-untyped]
from nameko.rpc import RpcProxy  # type: ignore[import-untyped]

from .contract import Contract
from .dependency import Injected
from .exceptions import DeclaredError
from .messages import encode, value

R = TypeVar("R")
C = TypeVar("C", bound="ServiceClient")

#: Nameko 3 reads its configuration from the global `nameko.config`.
NAMEKO_3 = hasattr(nameko, "config")


class Reply(Generic[R]):
    """A call in flight (`call_async`): `result()` waits for its typed reply."""

    def __init__(self, method: Method[R], pending: Any) -> None:
        self._method = method
        self._pending = pending

    def result(self) -> R:
        """The reply, checked; raises the declared error, `ValidationError` or Nameko's
        `RemoteError` as a direct call would."""
        return self._method._finish(self._pending.result)


class Method(Generic[R]):
    """One method of a service client; generated subclasses type `__call__` and
    `call_async` with the method's parameters."""

    def __init__(self, client: ServiceClient, name: str) -> None:
        self._contract = client.contract
        self._name = name
        self._proxy = getattr(client.proxy, name)

    def _request(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The arguments as JSON data, checked before they leave."""
        data = {key: encode(item) for key, item in kwargs.items()}
        self._contract.request(self._name, data)
        return data

    def _call(self, kwargs: dict[str, Any]) -> R:
        request = self._request(kwargs)
        return self._finish(lambda: self._proxy(**request))

    def _call_async(self, kwargs: dict[str, Any]) -> Reply[R]:
        return Reply(self, self._proxy.call_async(**self._request(kwargs)))

    def _finish(self, wait: Callable[[], Any]) -> R:
        try:
            result = wait()
        except DeclaredError as error:
            self._contract.declared(self._name, error)
            raise
        return cast(R, value(self._contract.reply(self._name, result)))


class ServiceClient:
    """Typed calls to one service through `proxy`, a Nameko service proxy to it."""

    contract: ClassVar[Contract]

    def __init__(self, proxy: Any) -> None:
        self.proxy = proxy

    @classmethod
    @contextmanager
    def standalone(
        cls: type[C], config: dict[str, Any] | None = None, **options: Any
    ) -> Iterator[C]:
        """A client outside any Nameko service, over its own connection, closed on exit.

        `config` is Nameko's (`AMQP_URI`, ...): required by Nameko 2; Nameko 3 reads the
        global `nameko.config`, patched with `config` while the client is open. `options`
        go to Nameko's `ServiceRpcProxy` / `ServiceRpcClient` (`timeout=`, ...).
        """
        name = cls.contract.name
        if NAMEKO_3:
            from nameko.standalone.rpc import ServiceRpcClient  # type: ignore[import-untyped]

            patched = nameko.config.patch(config) if config else nullcontext()
            with patched, ServiceRpcClient(name, **options) as proxy:
                yield cls(proxy)
        else:
            from nameko.standalone.rpc import ServiceRpcProxy

            with ServiceRpcProxy(name, config or {}, **options) as proxy:
                yield cls(proxy)


class ServiceRpc(RpcProxy, Injected[C]):  # type: ignore[misc]
    """A Nameko dependency giving a service's workers a typed client of another service.

    Declare the generated subclass on the calling service (`users = UserServiceRpc()`);
    `self.users` in a worker is then a `UserServiceClient`. `options` go to Nameko's
    `RpcProxy` (`ServiceRpc` on Nameko 3).
    """

    client: ClassVar[type[ServiceClient]]

    def __init__(self, **options: Any) -> None:
        super().__init__(self.client.contract.name, **options)

    def get_dependency(self, worker_ctx: Any) -> ServiceClient:
        return self.client(super().get_dependency(worker_ctx))
