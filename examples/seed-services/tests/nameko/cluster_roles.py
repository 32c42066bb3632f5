"""Nameko 2.14.1 in the cluster fault scenarios (tests/cluster_faults.rs), writing ledgers as
the Rust processes there do: one JSON line per event, to the file named by LEDGER.

Usage: python cluster_roles.py service
       python cluster_roles.py client SERVICE FIRST_ID DEADLINE_SECONDS
(AMQP_URI from the environment: the three nodes, `;`-separated, kombu's failover list;
HEARTBEAT, seconds, as for the Rust processes.)

`service` runs `ledgered_nameko.run(id)`, the anchor: the Rust `ledgered` service's twin on
the classic queues Nameko declares; each execution is written down ("ran"). `client` calls
SERVICE.run(id) without pause, ids from FIRST_ID, each bounded by DEADLINE_SECONDS, and writes
each call's outcome ("call"); like restart_load.py it replaces a proxy that failed for any
reason but a timeout or a remote error, as a Python user would, and stops when LEDGER's
`.stop` file appears. Both print READY once they work.
"""
import eventlet

eventlet.monkey_patch()

import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from nameko.exceptions import RemoteError, RpcTimeout  # noqa: E402
from nameko.rpc import rpc  # noqa: E402
from nameko.runners import ServiceRunner  # noqa: E402
from nameko.standalone.rpc import ClusterRpcProxy  # noqa: E402

LEDGER = os.environ["LEDGER"]


def write(entry):
    # One whole line per write, flushed: the test reads the file while this process runs.
    with open(LEDGER, "a") as ledger:
        ledger.write(json.dumps(entry) + "\n")


def config():
    # The Rust processes' heartbeat (HEARTBEAT), so that both notice a silent loss alike.
    return {"AMQP_URI": os.environ["AMQP_URI"], "HEARTBEAT": int(os.environ["HEARTBEAT"])}


class Hang(Exception):
    """The call outlived its deadline and the backstop."""


class LedgeredNameko:
    name = "ledgered_nameko"

    @rpc
    def run(self, id):
        write({"kind": "ran", "id": id, "at": time.time()})
        return id


def service():
    runner = ServiceRunner(dict(config(), max_workers=10))
    runner.add_service(LedgeredNameko)
    runner.start()
    print("READY", flush=True)
    runner.wait()


def client(target, first_id, deadline):
    stop = os.path.splitext(LEDGER)[0] + ".stop"
    proxy = rpc_proxy = None
    ready = False
    call_id = first_id
    while not os.path.exists(stop):
        began = time.time()
        outcome = "ok"
        try:
            with eventlet.Timeout(deadline + 1, Hang):
                if rpc_proxy is None:
                    proxy = ClusterRpcProxy(config(), timeout=deadline)
                    rpc_proxy = proxy.start()
                    if not ready:
                        print("READY", flush=True)
                        ready = True
                answer = getattr(rpc_proxy, target).run(call_id)
                if answer != call_id:
                    outcome = "wrong answer {}".format(answer)
        except RpcTimeout:
            outcome = "timeout"
        except RemoteError as exc:
            outcome = "remote error {}".format(exc.exc_type)
        except Exception as exc:  # noqa: BLE001 - any other failure: a new proxy
            outcome = type(exc).__name__
            try:
                if proxy is not None:
                    with eventlet.Timeout(1, False):
                        proxy.stop()
            except Exception:  # noqa: BLE001
                pass
            proxy = rpc_proxy = None
            time.sleep(0.1)
        write(
            {
                "kind": "call",
                "id": call_id,
                "began": began,
                "ended": time.time(),
                "outcome": outcome,
            }
        )
        call_id += 1
        time.sleep(0.02)
    print("DONE", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "service":
        service()
    else:
        client(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
