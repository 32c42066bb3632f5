"""Nameko 2.14.1 side of the events benchmark.

python events.py N  -> runs an @event_handler for user_service.user_created in-process,
                       dispatches N events with the standalone event_dispatcher from 64
                       green threads, waits until the handler saw them all, and prints
                       {"events": N, "seconds": s}.  AMQP_URI comes from the environment.
"""
import eventlet

eventlet.monkey_patch()

import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from eventlet.event import Event  # noqa: E402
from nameko.events import event_handler  # noqa: E402
from nameko.runners import ServiceRunner  # noqa: E402
from nameko.standalone.events import event_dispatcher  # noqa: E402

CONFIG = {"AMQP_URI": os.environ["AMQP_URI"], "max_workers": 64}
TARGET = int(sys.argv[1])
STATE = {"seen": 0, "done": Event()}


class Listener:
    name = "bench_listener"

    @event_handler("user_service", "user_created")
    def on_user_created(self, payload):
        STATE["seen"] += 1
        if STATE["seen"] == TARGET:
            STATE["done"].send(True)


def main():
    runner = ServiceRunner(CONFIG)
    runner.add_service(Listener)
    runner.start()
    dispatch = event_dispatcher(CONFIG)
    payload = {"user_id": 42, "name": "Ada Lovelace"}
    pool = eventlet.GreenPool(64)
    start = time.perf_counter()
    for _ in range(TARGET):
        pool.spawn_n(dispatch, "user_service", "user_created", payload)
    pool.waitall()
    STATE["done"].wait()
    elapsed = time.perf_counter() - start
    runner.stop()
    print(json.dumps({"events": TARGET, "seconds": elapsed}))


if __name__ == "__main__":
    main()
