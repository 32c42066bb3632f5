"""A small Nameko 2.14.1 fleet with no schema anywhere, as a team adopting contracts runs it:
the adoption test (contracts-cli/tests/adoption.rs) records its traffic and infers contracts.

Its shapes are the ones a real fleet has: nested records, optional and nullable fields, closed
string sets, maps keyed by data, lists of records, a tagged union, declared errors, events of
several types, a reply that is sometimes null. Every event is dispatched for a reason the
caller can tell from its own arguments, so the traffic generator knows how many messages the
recorder will see.

Usage: python fleet.py  (AMQP_URI from the environment; prints READY once serving)
"""
import eventlet

eventlet.monkey_patch()

import datetime  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import uuid  # noqa: E402

from nameko.events import EventDispatcher  # noqa: E402
from nameko.rpc import rpc  # noqa: E402
from nameko.runners import ServiceRunner  # noqa: E402


class OutOfStock(Exception):
    pass


class OrderNotFound(Exception):
    pass


class PaymentDeclined(Exception):
    pass


def now():
    return datetime.datetime(2026, 12, 5, 12, 0, 0, tzinfo=datetime.timezone.utc)


ORDERS = {}


class Orders:
    name = "orders"
    dispatch = EventDispatcher()

    @rpc
    def create_order(self, customer, items, shipping, note=None):
        """customer {id uuid, email, name}; items [{sku, qty int, unit_price float}];
        shipping {method standard|express|pickup, address {street, city, postcode,
        country} or null for pickup}; note an optional string."""
        for item in items:
            if item["qty"] > 40:
                raise OutOfStock(item["sku"])
        order_id = str(uuid.uuid4())
        total = round(sum(i["qty"] * i["unit_price"] for i in items), 2)
        ORDERS[order_id] = {"customer": customer, "items": items, "total": total}
        self.dispatch(
            "order_created",
            {
                "order_id": order_id,
                "customer_id": customer["id"],
                "total": total,
                "placed_at": now().isoformat(),
                "lines": [{"sku": i["sku"], "qty": i["qty"]} for i in items],
            },
        )
        return {
            "order_id": order_id,
            "status": "pending",
            "created_at": now().isoformat(),
            "total": total,
            "line_count": len(items),
        }

    @rpc
    def get_order(self, order_id):
        """The order, or None when there is none."""
        order = ORDERS.get(order_id)
        if order is None:
            return None
        return {
            "order_id": order_id,
            "customer_email": order["customer"]["email"],
            "total": order["total"],
            "items": order["items"],
        }

    @rpc
    def cancel_order(self, order_id, reason):
        """reason customer_request|fraud|out_of_stock; raises OrderNotFound."""
        if order_id not in ORDERS:
            raise OrderNotFound(order_id)
        del ORDERS[order_id]
        self.dispatch(
            "order_cancelled",
            {"order_id": order_id, "reason": reason, "cancelled_on": now().date().isoformat()},
        )
        return True


class Inventory:
    name = "inventory"
    dispatch = EventDispatcher()

    @rpc
    def stock_levels(self, skus):
        """A map from each SKU to its stock."""
        return {sku: (sum(map(ord, sku)) * 7) % 500 for sku in skus}

    @rpc
    def reserve(self, sku, qty, warehouse="main"):
        """warehouse main|north|south; dispatches stock_low past 30 reserved."""
        if qty > 30:
            self.dispatch("stock_low", {"sku": sku, "remaining": 50 - qty, "warehouse": warehouse})
        return {
            "reservation_id": str(uuid.uuid4()),
            "expires_at": (now() + datetime.timedelta(hours=1)).isoformat(),
            "warehouse": warehouse,
            "qty": qty,
        }

    @rpc
    def restock(self, sku, added, by):
        """by {name, email}; dispatches restocked."""
        self.dispatch("restocked", {"sku": sku, "added": added, "by": by})
        return added


class Payments:
    name = "payments"
    dispatch = EventDispatcher()

    @rpc
    def charge(self, order_id, amount, instrument):
        """instrument, tagged by kind: card {last4, expiry_month, expiry_year},
        bank {iban, holder}, wallet {provider apple|google|paypal, account_email}.
        Raises PaymentDeclined past 900."""
        if amount > 900:
            raise PaymentDeclined("amount {} over the limit".format(amount))
        payment_id = str(uuid.uuid4())
        self.dispatch(
            "payment_captured",
            {"payment_id": payment_id, "order_id": order_id, "amount": amount,
             "kind": instrument["kind"]},
        )
        receipt = instrument.get("account_email")
        return {
            "payment_id": payment_id,
            "charged_at": now().isoformat(),
            "amount": amount,
            "currency": "EUR" if amount < 500 else "USD",
            "receipt_to": receipt,
        }


def main():
    # The declared errors are the fleet's normal traffic: keep their tracebacks out of the
    # test's output.
    logging.getLogger("nameko.containers").setLevel(logging.CRITICAL)
    runner = ServiceRunner({"AMQP_URI": os.environ["AMQP_URI"], "max_workers": 10})
    for cls in (Orders, Inventory, Payments):
        runner.add_service(cls)

    def stop(signum, frame):
        eventlet.spawn_n(runner.stop)

    signal.signal(signal.SIGTERM, stop)
    runner.start()
    print("READY", flush=True)
    runner.wait()


if __name__ == "__main__":
    main()
