"""A standalone Python client of the Rust `user_service`, through the generated typed client,
on Nameko 2.14.1 or 3.0.0rc11 (whichever the venv has). Prints one JSON object of outcomes.

Usage: python client.py FIRST_USER_ID   (AMQP_URI from the environment)
"""
import json
import os
import sys
from pathlib import Path
from typing import Any

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "seed-contracts" / "python"))

from seed_contracts._runtime.client import NAMEKO_3  # noqa: E402
from seed_contracts import ValidationError  # noqa: E402
from seed_contracts.user_service import (  # noqa: E402
    UserCreated,
    UserData,
    UserError,
    UserServiceClient,
    UserServiceEvents,
)


def cluster(config: dict[str, Any]) -> Any:
    """Nameko's cluster proxy (2) or client (3), open."""
    if NAMEKO_3:
        import nameko
        from nameko.standalone.rpc import ClusterRpcClient

        nameko.config.setup(config)
        return ClusterRpcClient()
    from nameko.standalone.rpc import ClusterRpcProxy

    return ClusterRpcProxy(config)


def main() -> None:
    first = int(sys.argv[1])
    out: dict[str, Any] = {"nameko": 3 if NAMEKO_3 else 2}
    config = {"AMQP_URI": os.environ["AMQP_URI"]}
    with UserServiceClient.standalone(config) as users:
        created = users.create_user(UserData(user_id=first, name="Ada"))
        out["created"] = {"type": type(created).__name__, "user_id": created.user_id}
        pending = users.create_user.call_async(UserData(user_id=first + 1, name="Grace"))
        out["async"] = pending.result().model_dump(mode="json")
        try:
            users.create_user(UserData(user_id=first, name="Ada"))
        except UserError as error:
            taken = error.payload.root.user_already_exists
            out["declared"] = {"type": type(error).__name__, "user_id": taken.user_id}
        # Built without checks, as a dict from elsewhere might be: refused before sending.
        bad = UserData.model_construct(user_id=0, name="")
        try:
            users.create_user(bad)
        except ValidationError as error:
            out["refused"] = {
                "direction": error.direction,
                "pointers": [f.pointer for f in error.failures],
            }
    # The same typed client around a cluster proxy's service.
    with cluster(config) as proxies:
        users = UserServiceClient(proxies.user_service)
        out["cluster"] = users.create_user(UserData(user_id=first + 2, name="Lin")).user_id
    # Typed events, standalone: a bad one never leaves; a good one, published after it, is
    # the first the handler sees.
    events = UserServiceEvents.standalone(config)
    try:
        events.user_created(UserCreated.model_construct(user_id=first + 4, name=""))
    except ValidationError as error:
        out["event_refused"] = [f.pointer for f in error.failures]
    events.user_created(UserCreated(user_id=first + 3, name="Joan"))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
