"""Nameko services written against the generated `seed_contracts` package, run beside Rust
services by tests/typed_python.rs, on Nameko 2.14.1 or 3.0.0rc11 (whichever the venv has).

Usage: python services.py SERVICE [SERVICE ...]   (AMQP_URI from the environment)
Prints READY once every service consumes; SIGTERM stops them gracefully.

- `user_service`: a Python implementation of the contract, held to it by the guard, which
  publishes `user_created` through the typed dispatcher. Two names make it misbehave, so the
  tests can see the guard catch it: "bad reply" returns a reply breaking the contract, "bad
  error" raises its declared error with a payload breaking it.
- `py_caller`: calls the Rust `user_service` through the typed client dependency.
- `py_listener`: handles `user_service.user_created` as its typed, checked model.
"""
import eventlet

eventlet.monkey_patch()

import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

# The package as generated and committed; no bytecode written into the tree.
sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "seed-contracts" / "python"))

import nameko  # noqa: E402
from nameko.events import event_handler  # noqa: E402
from nameko.rpc import rpc  # noqa: E402
from nameko.runners import ServiceRunner  # noqa: E402

from seed_contracts._runtime.client import NAMEKO_3  # noqa: E402
from seed_contracts import user_service  # noqa: E402
from seed_contracts.user_service import (  # noqa: E402
    Created,
    UserAlreadyExists,
    UserCreated,
    UserData,
    UserError,
    UserErrorPayload,
    UserErrorPayloadUserAlreadyExists,
)


class UserService:
    """`user_service`, in Python."""

    name = "user_service"
    events = user_service.UserServiceDispatcher()
    users: dict[int, UserData] = {}

    @rpc
    @user_service.guard.rpc
    def create_user(self, user_data: UserData) -> Created:
        if user_data.name == "bad reply":
            return Created.model_construct(status="success", user_id=0)
        if user_data.name == "bad error" or user_data.user_id in self.users:
            user_id = -1 if user_data.name == "bad error" else user_data.user_id
            taken = UserAlreadyExists.model_construct(user_id=user_id)
            raise UserError(
                UserErrorPayload(UserErrorPayloadUserAlreadyExists(UserAlreadyExists=taken))
            )
        self.users[user_data.user_id] = user_data
        self.events.user_created(UserCreated(user_id=user_data.user_id, name=user_data.name))
        return Created.model_validate({"status": "success", "user_id": user_data.user_id})


class PyCaller:
    """Calls the Rust `user_service` with the typed client, and says what came back."""

    name = "py_caller"
    users = user_service.UserServiceRpc()

    @rpc
    def create(self, user_id: int, name: str, asynchronously: bool = False) -> Any:
        data = UserData(user_id=user_id, name=name)
        try:
            if asynchronously:
                created = self.users.create_user.call_async(user_data=data).result()
            else:
                created = self.users.create_user(user_data=data)
        except UserError as error:
            taken = error.payload.root.user_already_exists
            return {"raised": type(error).__name__, "user_id": taken.user_id}
        return {"returned": type(created).__name__, "user_id": created.user_id}


class PyListener:
    """Handles `user_created` as its model; `received(n)` waits for the first n."""

    name = "py_listener"
    seen: list[UserCreated] = []
    arrived = eventlet.event.Event()

    @event_handler("user_service", "user_created")
    @user_service.guard.event("user_created")
    def on_user_created(self, event: UserCreated) -> None:
        self.seen.append(event)
        if not self.arrived.ready():
            self.arrived.send()

    @rpc
    def received(self) -> Any:
        self.arrived.wait()
        return [{"type": type(e).__name__, "user_id": e.user_id, "name": e.name} for e in self.seen]


SERVICES = {cls.name: cls for cls in (UserService, PyCaller, PyListener)}


def main() -> None:
    config = {"AMQP_URI": os.environ["AMQP_URI"], "max_workers": 10}
    if NAMEKO_3:
        nameko.config.setup(config)
        runner = ServiceRunner()
    else:
        runner = ServiceRunner(config)
    for name in sys.argv[1:]:
        runner.add_service(SERVICES[name])

    def stop(signum: int, frame: Any) -> None:
        eventlet.spawn_n(runner.stop)

    signal.signal(signal.SIGTERM, stop)
    runner.start()
    print("READY", flush=True)
    runner.wait()


if __name__ == "__main__":
    main()
