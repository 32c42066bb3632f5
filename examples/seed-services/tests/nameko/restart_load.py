"""A Nameko 2.14.1 client calling `lab.add` without pause, for the fault suite's restarts.

Usage: python restart_load.py DEADLINE_SECONDS   (AMQP_URI from the environment)
Prints READY once its proxy is set up, then one JSON line per call:
{"kind": "ok" | <exception class>, "took": seconds, "ended": unix time}.
Each call is bounded by DEADLINE_SECONDS (the proxy's timeout, and an eventlet timeout as a
backstop, reported as "Hang"). A proxy that fails for any reason other than a timeout or a
remote error is replaced, as a Python user would: the standalone proxy does not recover a
lost connection by itself. Runs until killed.
"""
import eventlet

eventlet.monkey_patch()

import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from nameko.exceptions import RemoteError, RpcTimeout  # noqa: E402
from nameko.standalone.rpc import ClusterRpcProxy  # noqa: E402


class Hang(Exception):
    """The call outlived its deadline and the backstop."""


def main():
    deadline = float(sys.argv[1])
    config = {"AMQP_URI": os.environ["AMQP_URI"]}
    proxy = None
    rpc = None
    n = 0
    while True:
        started = time.time()
        kind = "ok"
        try:
            with eventlet.Timeout(deadline + 1, Hang):
                if rpc is None:
                    proxy = ClusterRpcProxy(config, timeout=deadline)
                    rpc = proxy.start()
                    if n == 0:
                        print("READY", flush=True)
                n += 1
                assert rpc.lab.add(n, 1) == n + 1
        except (RpcTimeout, RemoteError) as exc:
            kind = type(exc).__name__
        except Exception as exc:  # noqa: BLE001 - any other failure: a new proxy
            kind = type(exc).__name__
            try:
                if proxy is not None:
                    with eventlet.Timeout(1, False):
                        proxy.stop()
            except Exception:  # noqa: BLE001
                pass
            proxy = rpc = None
            time.sleep(0.05)
        ended = time.time()
        print(json.dumps({"kind": kind, "took": ended - started, "ended": ended}), flush=True)
        time.sleep(0.01)


if __name__ == "__main__":
    main()
