"""Checks the generated package's models against the payload fixtures.

Usage: models_check.py FIXTURES. Prints one JSON object: where the package was imported from,
and for each fixture file whether its message's model accepted it.
"""

import importlib
import json
import pathlib
import sys

import pydantic

import seed_contracts


def model_of(message: str) -> type[pydantic.BaseModel]:
    """The model of `service.method` (its request) or `service.event`."""
    service, name = message.split(".", 1)
    module = importlib.import_module(f"seed_contracts.{service}")
    if name in module.REQUESTS:
        return module.REQUESTS[name]
    return module.EVENTS[name]


def main() -> None:
    fixtures = pathlib.Path(sys.argv[1])
    verdicts = {}
    for path in sorted(fixtures.glob("*/*/*.json")):
        model = model_of(path.parent.parent.name)
        try:
            model.model_validate_json(path.read_text())
            verdicts[str(path.relative_to(fixtures))] = True
        except pydantic.ValidationError:
            verdicts[str(path.relative_to(fixtures))] = False
    print(json.dumps({"imported_from": seed_contracts.__file__, "fixtures": verdicts}))


main()
