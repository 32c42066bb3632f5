"""The runtime's refusals of misuse, and its reading of errors from the wire, on the seed
package (on sys.path). Prints "ok" once every check held; any failure raises."""

import json
from typing import Any

import pydantic
from nameko.exceptions import deserialize, serialize

from seed_contracts._runtime.contract import Contract
from seed_contracts._runtime.events import ServiceEvents
from seed_contracts import DeclaredError, ValidationError
from seed_contracts import user_service
from seed_contracts.user_service import UserError


def raises(kind: type[BaseException], action: Any, *words: str) -> None:
    try:
        action()
    except kind as error:
        for word in words:
            assert word in str(error), (word, str(error))
        return
    raise AssertionError(f"{action} did not raise {kind.__name__}")


# A guard for a method or event the contract does not have fails at import, naming them.
def crate_user(self: Any) -> None: ...


raises(LookupError, lambda: user_service.guard.rpc(crate_user), "crate_user", "create_user")
raises(LookupError, lambda: user_service.guard.event("user_deleted"), "user_deleted")


# A declared error class must carry its exc_path's name.
def misnamed() -> None:
    class Wrong(DeclaredError[user_service.UserErrorPayload]):
        exc_path = "user_service.UserError"
        payload_type = user_service.UserErrorPayload


raises(TypeError, misnamed, "Wrong", "user_service.UserError")

# Only the contract's own service may publish its events.
dispatcher = user_service.UserServiceDispatcher()
dispatcher.container = type("Container", (), {"service_name": "mailer"})()
raises(TypeError, dispatcher.setup, "mailer", "user_service")
assert issubclass(user_service.UserServiceDispatcher, ServiceEvents)

# Errors from the wire: a declared error round-trips through Nameko's own (de)serializer
# under the contract's path; a ValidationError from a peer that sends only the message
# (older Rust services) still arrives as one, without failures.
payload = user_service.UserErrorPayload.model_validate({"UserAlreadyExists": {"user_id": 3}})
wire = serialize(UserError(payload))
assert wire["exc_path"] == "user_service.UserError", wire
assert json.loads(wire["exc_args"][1]) == {"UserAlreadyExists": {"user_id": 3}}, wire
back = deserialize(wire)
assert isinstance(back, UserError) and back.payload == payload, back
old = deserialize(
    {"exc_type": "ValidationError", "exc_path": "contracts.exceptions.ValidationError",
     "exc_args": ["user_service.create_user request does not match"], "value": "…"}
)
assert isinstance(old, ValidationError) and old.failures == [], old
assert str(old) == "user_service.create_user request does not match"
odd = ValidationError("refused", "[1, 2]")
assert odd.failures == [] and odd.service == "" and str(odd) == "refused"

# JSON Schema counts 5.0 an integer, so do the models (as the Rust side does); 5.5, "5" and
# true are not integers to any of them.
def request(user_id: str) -> user_service.CreateUserRequest:
    text = '{"user_data": {"user_id": %s, "name": "Ada"}}' % user_id
    return user_service.CreateUserRequest.model_validate_json(text)


whole = request("5.0").user_data.user_id
assert whole == 5 and type(whole) is int, whole
for not_whole in ("5.5", '"5"', "true"):
    raises(pydantic.ValidationError, lambda v=not_whole: request(v), "user_id")

# A contract of no methods refuses every call by name.
empty = Contract("nobody", {}, {})
raises(LookupError, lambda: empty.method("m"), "nobody", "'m'")
print("ok")
