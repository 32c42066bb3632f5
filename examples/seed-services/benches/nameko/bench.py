"""Nameko 2.14.1 side of the AMQP benchmark: the same create_user service, and a client.

python bench.py serve                  -> runs the `bench` service; prints READY
python bench.py call SECONDS IN_FLIGHT -> calls bench.create_user for SECONDS with IN_FLIGHT
                                          calls outstanding; prints {"calls": n, "seconds": s}
AMQP_URI comes from the environment.
"""
import eventlet

eventlet.monkey_patch()

import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from nameko.rpc import rpc  # noqa: E402
from nameko.runners import ServiceRunner  # noqa: E402
from nameko.standalone.rpc import ClusterRpcProxy  # noqa: E402

CONFIG = {"AMQP_URI": os.environ["AMQP_URI"], "max_workers": 64}
USER = {"user_id": 42, "name": "Ada Lovelace"}


class BenchService:
    name = "bench"

    @rpc
    def create_user(self, user_data):
        return {"status": "success", "user_id": user_data["user_id"]}


def serve():
    runner = ServiceRunner(CONFIG)
    runner.add_service(BenchService)
    signal.signal(signal.SIGTERM, lambda *_: eventlet.spawn_n(runner.stop))
    runner.start()
    print("READY", flush=True)
    runner.wait()


def call(seconds, in_flight):
    with ClusterRpcProxy(CONFIG, timeout=30) as n:
        for _ in range(50):  # warm up
            n.bench.create_user(user_data=USER)
        calls = 0
        start = time.perf_counter()
        deadline = start + seconds
        if in_flight == 1:
            while time.perf_counter() < deadline:
                n.bench.create_user(user_data=USER)
                calls += 1
        else:
            pending = [n.bench.create_user.call_async(user_data=USER) for _ in range(in_flight)]
            while pending:
                reply = pending.pop(0)
                reply.result()
                calls += 1
                if time.perf_counter() < deadline:
                    pending.append(n.bench.create_user.call_async(user_data=USER))
        elapsed = time.perf_counter() - start
    print(json.dumps({"calls": calls, "seconds": elapsed}))


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve()
    else:
        call(float(sys.argv[2]), int(sys.argv[3]))
