"""Nameko 2.14.1 clients calling Rust services; prints one JSON object of outcomes.

Usage: python client.py SCENARIO   (AMQP_URI from the environment)
"""
import eventlet

eventlet.monkey_patch()

import datetime  # noqa: E402
import decimal  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import uuid  # noqa: E402

import kombu  # noqa: E402
from kombu import Connection, Exchange, Queue  # noqa: E402
from kombu.utils import json as kombu_json  # noqa: E402
from kombu.messaging import Producer  # noqa: E402
from nameko.exceptions import RemoteError, deserialize  # noqa: E402
from nameko.standalone.rpc import ClusterRpcProxy  # noqa: E402

CONFIG = {"AMQP_URI": os.environ["AMQP_URI"]}


def outcome(call):
    """Run `call`; describe its result or the exception Nameko raised."""
    try:
        return {"ok": call()}
    except Exception as exc:  # noqa: BLE001 - the class is what we report
        return describe(exc)


def describe(exc):
    described = {
        "class": type(exc).__name__,
        "module": type(exc).__module__,
        "str": str(exc),
    }
    if isinstance(exc, RemoteError):
        described["exc_type"] = exc.exc_type
        described["value"] = exc.value
    return described


def raw_request(routing_key, body, content_type="application/json", **properties):
    """Publish a hand-made request and return the reply body (or None)."""
    reply_id = str(uuid.uuid4())
    exchange = Exchange("nameko-rpc", type="topic", durable=True)
    with Connection(CONFIG["AMQP_URI"]) as conn:
        queue = Queue(
            "rpc.reply-raw-" + reply_id,
            exchange=exchange,
            routing_key=reply_id,
            queue_arguments={"x-expires": 300000},
        )
        queue(conn.channel()).declare()
        replies = []
        with conn.Consumer(queue, callbacks=[lambda b, m: (replies.append(b), m.ack())]):
            Producer(conn.channel()).publish(
                body if isinstance(body, bytes) else json.dumps(body).encode(),
                exchange=exchange,
                routing_key=routing_key,
                content_type=content_type,
                content_encoding="utf-8",
                reply_to=reply_id,
                correlation_id=str(uuid.uuid4()),
                **properties
            )
            try:
                conn.drain_events(timeout=10)
            except Exception:  # noqa: BLE001 - a timeout means no reply
                return None
        return replies[0] if replies else None


def python_stamp(tz):
    """The lab's `Stamp` as a Python caller builds it: datetime, date, Decimal and UUID."""
    return {
        "at": datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=tz),
        "day": datetime.date(2024, 1, 2),
        "price": decimal.Decimal("1.50"),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    }


def seed():
    with ClusterRpcProxy(CONFIG, timeout=10) as n:
        results = {
            "positional": outcome(lambda: n.my_service.hello("World")),
            "keyword": outcome(lambda: n.my_service.hello(name="Wörld ✓ 世界")),
            "nested_positional": outcome(
                lambda: n.user_service.create_user({"user_id": 5, "name": "Ann"})
            ),
            "nested_keyword": outcome(
                lambda: n.user_service.create_user(user_data={"user_id": 6, "name": "Bob 🐍"})
            ),
            "declared_error": outcome(
                lambda: n.user_service.create_user(user_data={"user_id": 5, "name": "Ann"})
            ),
            "schema_violation": outcome(
                lambda: n.user_service.create_user(user_data={"user_id": 0, "name": "Zed"})
            ),
            "big_int": outcome(
                lambda: n.user_service.create_user(
                    user_data={"user_id": 10**30, "name": "Huge"}
                )
            ),
            "big_int_accepted": outcome(lambda: n.lab.scale(10**30 + 7, 3)),
            "big_int_too_big": outcome(lambda: n.lab.scale(10**40, 1)),
            "unknown_method": outcome(lambda: n.my_service.nope()),
            "wrong_arity": outcome(lambda: n.my_service.hello("a", "b")),
            "chained": outcome(lambda: n.another_service.do_something_with_hello()),
            "client_service": outcome(
                lambda: n.my_client_service.try_create_user(
                    user_data={"user_id": 6, "name": "Bob"}
                )
            ),
        }
        # Python's own types, encoded by the kombu this Nameko installs (not by a test's
        # hand-written JSON): what reaches the wire, and what the Rust service makes of it.
        stamp = python_stamp(datetime.timezone.utc)
        results["python_types_wire"] = json.loads(kombu_json.dumps(stamp))
        results["python_types"] = outcome(lambda: n.lab.stamp(stamp=stamp))
        results["naive_datetime"] = outcome(lambda: n.lab.stamp(stamp=python_stamp(None)))
        results["kombu_version"] = kombu.__version__
        reply = raw_request("my_service.hello", {"kwargs": {"name": "x"}})
        results["missing_args"] = (
            describe(deserialize(reply["error"])) if reply and reply.get("error") else reply
        )
        results["after_bad_input"] = outcome(lambda: n.my_service.hello("again"))
    return results


def my_service_many():
    with ClusterRpcProxy(CONFIG, timeout=10) as n:
        calls = [n.my_service.hello.call_async("n{}".format(i)) for i in range(40)]
        return {"replies": [call.result() for call in calls]}


def dispatch_standalone():
    """Nameko's standalone dispatcher: no headers at all."""
    from nameko.standalone.events import event_dispatcher

    dispatch = event_dispatcher(CONFIG)
    dispatch("user_service", "user_created", {"user_id": 2, "name": "Standalone"})
    return {"dispatched": True}


def dispatch_for_dedupe():
    """Nameko-style duplicates: the standalone dispatcher sends no message id and no headers,
    so the same event dispatched twice is the same message twice."""
    from nameko.standalone.events import event_dispatcher

    dispatch = event_dispatcher(CONFIG)
    for user_id in (1, 1, 2, 3):
        dispatch("user_service", "user_created", {"user_id": user_id, "name": "Dup"})
    return {"dispatched": 4}


SCENARIOS = {
    "dispatch_for_dedupe": dispatch_for_dedupe,
    "seed": seed,
    "my_service_many": my_service_many,
    "dispatch_standalone": dispatch_standalone,
}

if __name__ == "__main__":
    print(json.dumps(SCENARIOS[sys.argv[1]]()))
