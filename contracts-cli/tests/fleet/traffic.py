"""Drives the fleet of fleet.py as its callers would: every method, called by position, by
keyword and both, with values drawn from a seeded generator (random names, SKUs and amounts,
so only the closed sets the fleet really has look closed).

Usage: python traffic.py --seed S --rounds N [--count-only]
(AMQP_URI from the environment.) --count-only prints how many messages (requests, replies
and events) the traffic makes without sending any: the plan is decided from the seed alone.
Otherwise it sends the traffic and prints that count when done.
"""
import argparse
import os
import random
import string
import uuid


def word(rng, low=4, high=9):
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(low, high)))


def sku(rng):
    return "SKU-" + "".join(rng.choice("0123456789abcdef") for _ in range(6))


def ident(rng):
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def customer(rng):
    name = word(rng).capitalize() + " " + word(rng).capitalize()
    return {
        "id": ident(rng),
        "email": "{}.{}@{}.example".format(word(rng), rng.randint(1, 999), word(rng)),
        "name": name,
    }


def shipping(rng):
    method = rng.choice(["standard", "express", "pickup"])
    address = None
    if method != "pickup":
        address = {
            "street": "{} {} Street".format(rng.randint(1, 300), word(rng).capitalize()),
            "city": word(rng).capitalize(),
            "postcode": "{:05d}".format(rng.randint(0, 99999)),
            "country": rng.choice(["DE", "FR", "NL", "GB", "US", "ES"]),
        }
    return {"method": method, "address": address}


def instrument(rng):
    kind = rng.choice(["card", "bank", "wallet"])
    if kind == "card":
        return {"kind": kind, "last4": "{:04d}".format(rng.randint(0, 9999)),
                "expiry_month": rng.randint(1, 12), "expiry_year": rng.randint(2027, 2035)}
    if kind == "bank":
        return {"kind": kind, "iban": "DE{:020d}".format(rng.getrandbits(64)),
                "holder": word(rng).capitalize()}
    return {"kind": kind, "provider": rng.choice(["apple", "google", "paypal"]),
            "account_email": "{}@{}.example".format(word(rng), word(rng))}


def plan(seed, rounds):
    """The calls, as (service, method, args, kwargs, events it makes), decided from the seed.
    A call on an order created earlier names it {"order": k}: the k-th order created."""
    rng = random.Random(seed)
    calls = []
    live = []  # orders created and not cancelled, by creation index
    created = 0
    for _ in range(rounds):
        # orders.create_order: positional, keyword, mixed; note sometimes.
        c, items, s = customer(rng), [
            {"sku": sku(rng), "qty": rng.randint(1, 44), "unit_price": round(rng.uniform(1, 100), 2)}
            for _ in range(rng.randint(1, 4))
        ], shipping(rng)
        style = rng.randrange(3)
        if style == 0:
            args, kwargs = [c, items, s], {}
        elif style == 1:
            args, kwargs = [], {"customer": c, "items": items, "shipping": s}
        else:
            args, kwargs = [c, items], {"shipping": s}
        if rng.random() < 0.4:
            kwargs["note"] = " ".join(word(rng) for _ in range(rng.randint(1, 5)))
        ok = all(i["qty"] <= 40 for i in items)
        calls.append(("orders", "create_order", args, kwargs, 1 if ok else 0))
        if ok:
            live.append(created)
            created += 1
        # orders.get_order: a live order or an unknown one (None).
        target = {"order": rng.choice(live)} if live and rng.random() < 0.7 else ident(rng)
        if rng.random() < 0.5:
            calls.append(("orders", "get_order", [target], {}, 0))
        else:
            calls.append(("orders", "get_order", [], {"order_id": target}, 0))
        # orders.cancel_order: sometimes, a live order or an unknown one (OrderNotFound).
        if rng.random() < 0.5:
            reason = rng.choice(["customer_request", "fraud", "out_of_stock"])
            if live and rng.random() < 0.7:
                k = live.pop(rng.randrange(len(live)))
                calls.append(("orders", "cancel_order", [{"order": k}], {"reason": reason}, 1))
            else:
                calls.append(("orders", "cancel_order", [], {"order_id": ident(rng), "reason": reason}, 0))
        # inventory.stock_levels: a map keyed by SKUs.
        skus = [sku(rng) for _ in range(rng.randint(1, 5))]
        if rng.random() < 0.5:
            calls.append(("inventory", "stock_levels", [skus], {}, 0))
        else:
            calls.append(("inventory", "stock_levels", [], {"skus": skus}, 0))
        # inventory.reserve: positional with and without the default, or keywords.
        qty, warehouse, the_sku = rng.randint(1, 40), rng.choice(["main", "north", "south"]), sku(rng)
        style = rng.randrange(3)
        if style == 0:
            args, kwargs = [the_sku, qty], {}
            warehouse = "main"
        elif style == 1:
            args, kwargs = [the_sku, qty, warehouse], {}
        else:
            args, kwargs = [], {"sku": the_sku, "qty": qty, "warehouse": warehouse}
        calls.append(("inventory", "reserve", args, kwargs, 1 if qty > 30 else 0))
        # inventory.restock, now and then.
        if rng.random() < 0.3:
            by = {"name": word(rng).capitalize(), "email": "{}@{}.example".format(word(rng), word(rng))}
            kwargs = {"added": rng.randint(1, 100), "by": by}
            if rng.random() < 0.5:
                calls.append(("inventory", "restock", [sku(rng)], kwargs, 1))
            else:
                calls.append(("inventory", "restock", [], dict(kwargs, sku=sku(rng)), 1))
        # payments.charge: a tagged union; declined past 900.
        amount = round(rng.uniform(5, 1000), 2)
        order_id, paid_with = ident(rng), instrument(rng)
        if rng.random() < 0.5:
            args, kwargs = [order_id, amount, paid_with], {}
        else:
            args, kwargs = [order_id], {"amount": amount, "instrument": paid_with}
        calls.append(("payments", "charge", args, kwargs, 0 if amount > 900 else 1))
    return calls


def count(calls):
    return sum(2 + events for (_, _, _, _, events) in calls)


def resolve(value, orders):
    if isinstance(value, dict) and set(value) == {"order"}:
        return orders[value["order"]]
    return value


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--rounds", type=int, required=True)
    parser.add_argument("--count-only", action="store_true")
    options = parser.parse_args()
    calls = plan(options.seed, options.rounds)
    if options.count_only:
        print(count(calls), flush=True)
        return

    import eventlet

    eventlet.monkey_patch()
    from nameko.exceptions import RemoteError
    from nameko.standalone.rpc import ClusterRpcProxy

    orders = []
    with ClusterRpcProxy({"AMQP_URI": os.environ["AMQP_URI"]}) as proxy:
        for service, method, args, kwargs, _ in calls:
            args = [resolve(a, orders) for a in args]
            kwargs = {k: resolve(v, orders) for k, v in kwargs.items()}
            try:
                result = getattr(getattr(proxy, service), method)(*args, **kwargs)
            except RemoteError:
                continue
            if (service, method) == ("orders", "create_order"):
                orders.append(result["order_id"])
    print(count(calls), flush=True)


if __name__ == "__main__":
    main()
