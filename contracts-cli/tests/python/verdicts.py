"""Generates payloads from every message schema and judges them twice: by the schema itself
(the jsonschema library, Draft 2020-12) and by the generated Pydantic model.

Usage: verdicts.py PACKAGE_DIR PACKAGE MESSAGES_FILE EXAMPLES

MESSAGES_FILE is a JSON array of {"service", "kind", "name", "schema"}, kind one of
REQUESTS, REPLIES, ERRORS, EVENTS (the dicts of the generated service module). For each
message, hypothesis-jsonschema draws EXAMPLES valid payloads (derandomized: the same run
every time), and each is mutated in the ways payloads go wrong or merely look different: a
whole number written as a float, a fraction, an unknown field, a missing field, a value of
another type, a string stretched past its bounds, a number pushed past its range. Prints a
JSON array of {"message": index, "payload", "schema": bool, "pydantic": bool}.
"""

import importlib
import json
import random
import sys
import warnings

import jsonschema
import pydantic
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import NonInteractiveExampleWarning
from hypothesis_jsonschema import from_schema

warnings.simplefilter("ignore", NonInteractiveExampleWarning)

package_dir, package, messages_file, examples = sys.argv[1:5]
sys.path.insert(0, package_dir)
messages = json.loads(open(messages_file).read())


def draw(schema, count):
    """`count` payloads valid against `schema`, the same ones on every run."""
    drawn = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(from_schema(schema))
    def collect(payload):
        drawn.append(payload)

    collect()
    # Hypothesis shrinks and repeats; keep each payload once.
    unique = []
    for payload in drawn:
        if payload not in unique:
            unique.append(payload)
    return unique


def places(value, path=()):
    """Every (path, value) inside `value`, the root included."""
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from places(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from places(item, path + (index,))


def replaced(value, path, new):
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        copy = dict(value)
    else:
        copy = list(value)
    copy[head] = replaced(value[head], rest, new)
    return copy


def removed(value, path):
    """`value` without the object key at `path`."""
    parent, key = path[:-1], path[-1]
    container = value
    for step in parent:
        container = container[step]
    smaller = {k: v for k, v in container.items() if k != key}
    return replaced(value, parent, smaller)


def mutants(payload, rng):
    """Variations of `payload`; the schema decides which are still valid."""
    out = []
    spots = list(places(payload))
    for path, value in spots:
        if isinstance(value, bool):
            out.append(replaced(payload, path, None))
            out.append(replaced(payload, path, int(value)))
        elif isinstance(value, int):
            out.append(replaced(payload, path, float(value)))  # 5 -> 5.0: still an integer
            out.append(replaced(payload, path, value + 0.5))
            out.append(replaced(payload, path, str(value)))
            out.append(replaced(payload, path, value * 1000 + 1))
            out.append(replaced(payload, path, -value - 1))
            out.append(replaced(payload, path, 2**64 + value))
        elif isinstance(value, float):
            out.append(replaced(payload, path, value * 1000 + 1))
            out.append(replaced(payload, path, str(value)))
            if value.is_integer():
                out.append(replaced(payload, path, int(value)))
        elif isinstance(value, str):
            out.append(replaced(payload, path, value + "x" * 120))
            out.append(replaced(payload, path, ""))
            out.append(replaced(payload, path, value.upper() + "-1"))
            out.append(replaced(payload, path, 7))
        elif isinstance(value, list):
            out.append(replaced(payload, path, value + value[:1]))
            out.append(replaced(payload, path, {"0": value[0]} if value else {}))
        elif isinstance(value, dict):
            out.append(replaced(payload, path, dict(value, unexpected_field=1)))
            for key in value:
                out.append(removed(payload, path + (key,)))
            out.append(replaced(payload, path, list(value.values())))
        elif value is None:
            out.append(replaced(payload, path, 0))
            out.append(replaced(payload, path, {}))
    rng.shuffle(out)
    return [m for m in out if finite(m)][:12]


def finite(payload):
    """JSON has no infinities: a mutant that overflowed is no payload."""
    try:
        json.dumps(payload, allow_nan=False)
        return True
    except ValueError:
        return False


def pydantic_verdict(model, payload):
    try:
        model.model_validate_json(json.dumps(payload))
        return True
    except pydantic.ValidationError:
        return False


cases = []
rng = random.Random(22)
for index, message in enumerate(messages):
    module = importlib.import_module(f"{package}.{message['service']}")
    model = getattr(module, message["kind"])[message["name"]]
    schema = message["schema"]
    checker = jsonschema.Draft202012Validator(schema)
    payloads = []
    for payload in draw(schema, int(examples)):
        payloads.append(payload)
        payloads.extend(mutants(payload, rng))
    for payload in payloads:
        cases.append(
            {
                "message": index,
                "payload": payload,
                "schema": checker.is_valid(payload),
                "pydantic": pydantic_verdict(model, payload),
            }
        )
print(json.dumps(cases))
