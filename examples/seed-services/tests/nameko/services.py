"""Nameko 2.14.1 services the interop tests run beside Rust services.

Usage: python services.py SERVICE [SERVICE ...]   (AMQP_URI from the environment)
Prints READY once every service consumes; SIGTERM stops them gracefully.
"""
import eventlet

eventlet.monkey_patch()

import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402

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


SERVICES = {cls.name: cls for cls in (GreetingService, MyService)}


def main():
    config = {"AMQP_URI": os.environ["AMQP_URI"], "max_workers": 10}
    runner = ServiceRunner(config)
    for name in sys.argv[1:]:
        runner.add_service(SERVICES[name])

    def stop(signum, frame):
        eventlet.spawn_n(runner.stop)

    signal.signal(signal.SIGTERM, stop)
    runner.start()
    print("READY", flush=True)
    runner.wait()


if __name__ == "__main__":
    main()
