"""Nameko 2.14.1 services the interop tests run beside Rust services.

Usage: python services.py [--amqp-ssl JSON] SERVICE [SERVICE ...]
(AMQP_URI from the environment; --amqp-ssl sets Nameko's AMQP_SSL)
Prints READY once every service consumes; SIGTERM stops them gracefully. With
LOG_TO_STDOUT=1 in the environment, Nameko's and kombu's warnings go to stdout, for a test to
read.
"""
import eventlet

eventlet.monkey_patch()

import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402

from nameko.events import BROADCAST, SINGLETON, EventDispatcher, event_handler  # noqa: E402
from nameko.extensions import DependencyProvider  # noqa: E402
from nameko.rpc import RpcProxy, rpc  # noqa: E402
from nameko.runners import ServiceRunner  # noqa: E402


class WorkerContext(DependencyProvider):
    """Hands the worker its own context: call_id_stack and context data."""

    def get_dependency(self, worker_ctx):
        return worker_ctx


class GreetingService:
    """A Python service the Rust typed client calls."""

    name = "greeting_service"
    worker = WorkerContext()
    lab = RpcProxy("lab")

    @rpc
    def hello(self, name):
        return "Hello, {}!".format(name)

    @rpc
    def add(self, a, b):
        return a + b

    @rpc
    def fail(self, message):
        raise ValueError(message, 42)

    @rpc
    def stack(self):
        return list(self.worker.call_id_stack)

    @rpc
    def relay_stack(self):
        """Rust -> here -> Rust: the stack the Rust `lab` service sees."""
        return self.lab.stack()

    @rpc
    def relay_context(self, key):
        return self.lab.context_value(key)


class MyService:
    """A Python `my_service` sharing rpc-my_service with a Rust instance."""

    name = "my_service"

    @rpc
    def hello(self, name):
        return "Hello, {}! (nameko)".format(name)


class PyLab:
    """A Python `lab` with the Rust lab's `add`: the fault suite's anchor."""

    name = "lab"

    @rpc
    def add(self, a, b=None):
        return a + (b or 0)


class UserServiceEvents:
    """A Python `user_service` that dispatches `user_created` with EventDispatcher."""

    name = "user_service"
    dispatch = EventDispatcher()

    @rpc
    def announce(self, user_id, name):
        self.dispatch("user_created", {"user_id": user_id, "name": name})


class PyListener:
    """Nameko handlers of every type for `user_service.user_created`; each reports to the
    Rust `tally` service what it got."""

    name = "py_listener"
    tally = RpcProxy("tally")

    @event_handler("user_service", "user_created")
    def on_pool(self, payload):
        self.tally.record(payload["user_id"], "pool")

    @event_handler("user_service", "user_created", handler_type=SINGLETON)
    def on_singleton(self, payload):
        self.tally.record(payload["user_id"], "singleton")

    @event_handler(
        "user_service", "user_created", handler_type=BROADCAST, reliable_delivery=False
    )
    def on_broadcast(self, payload):
        self.tally.record(payload["user_id"], "broadcast")


class Mailer:
    """A Nameko `mailer.on_user_created`, sharing its service-pool queue with a Rust one."""

    name = "mailer"
    tally = RpcProxy("tally")

    @event_handler("user_service", "user_created")
    def on_user_created(self, payload):
        self.tally.record(payload["user_id"], "nameko")


SERVICES = {
    cls.name: cls
    for cls in (GreetingService, MyService, PyLab, UserServiceEvents, PyListener, Mailer)
}


def main():
    if os.environ.get("LOG_TO_STDOUT") == "1":
        logging.basicConfig(
            stream=sys.stdout, level=logging.WARNING, format="%(levelname)s %(name)s %(message)s"
        )
    config = {"AMQP_URI": os.environ["AMQP_URI"], "max_workers": 10}
    names = sys.argv[1:]
    if names[:1] == ["--amqp-ssl"]:
        config["AMQP_SSL"] = json.loads(names[1])
        names = names[2:]
    runner = ServiceRunner(config)
    for name in names:
        runner.add_service(SERVICES[name])

    def stop(signum, frame):
        eventlet.spawn_n(runner.stop)

    signal.signal(signal.SIGTERM, stop)
    runner.start()
    print("READY", flush=True)
    runner.wait()


if __name__ == "__main__":
    main()
