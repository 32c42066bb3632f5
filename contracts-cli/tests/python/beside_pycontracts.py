"""The installed generated package works beside PyContracts, which owns `contracts`.

Usage: beside_pycontracts.py GENERATOR (the generator name and version the package must
record). Prints `ok` when every check holds.
"""

import json
import sys

import contracts  # PyContracts: the module name our runtime used to take
from contracts import ContractNotRespected, contract
from nameko.exceptions import deserialize, serialize

import seed_contracts
from seed_contracts import ValidationError
from seed_contracts.user_service import CONTRACT


@contract(x="int,>=0")
def non_negative(x: int) -> int:
    return x


# PyContracts is whole and working: its module, and its decorator refusing a value.
assert "site-packages/contracts/" in contracts.__file__, contracts.__file__
assert non_negative(1) == 1
try:
    non_negative(-1)
    raise SystemExit("PyContracts accepted -1")
except ContractNotRespected:
    pass

# The generated package is installed (not read from a source tree), says what wrote it,
# and its runtime lives inside it.
assert "site-packages/seed_contracts/" in seed_contracts.__file__, seed_contracts.__file__
assert seed_contracts.GENERATOR == sys.argv[1], seed_contracts.GENERATOR
assert ValidationError.__mro__[0].__qualname__ == "ValidationError"
assert sys.modules["seed_contracts._runtime"].__file__.startswith(
    seed_contracts.__file__.rsplit("/", 1)[0]
)

# It checks messages, and its error keeps the wire name Rust services send and expect.
try:
    CONTRACT.request("create_user", {"user_data": {"user_id": 0, "name": "Ann"}})
    raise SystemExit("the contract accepted user_id 0")
except ValidationError as error:
    assert [f.pointer for f in error.failures] == ["/user_data/user_id"], error.failures
    wire = serialize(error)
    assert wire["exc_path"] == "contracts.exceptions.ValidationError", wire
    back = deserialize(json.loads(json.dumps(wire)))
    assert isinstance(back, ValidationError), type(back)
    assert [f.pointer for f in back.failures] == ["/user_data/user_id"]

print("ok")
