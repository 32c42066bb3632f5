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

from contracts.client import NAMEKO_3  # noqa: E402
from contracts.exceptions import ValidationError  # noqa: E402
from seed_contracts.user_service import UserData, UserError, UserServiceClient  # noqa: E402


def main() -> None:
    first = int(sys.argv[1])
    out: dict[str, Any] = {"nameko": 3 if NAMEKO_3 else 2}
    with UserServiceClient.standalone({"AMQP_URI": os.environ["AMQP_URI"]}) as users:
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
    print(json.dumps(out))


if __name__ == "__main__":
    main()
