"""The baseline of the adoption test: GenSON's schema for each message, built from the same
training messages `contracts infer` read, and its verdict on each test message.

Usage: python genson_baseline.py TRAIN.jsonl TEST.jsonl
Each line of both is {"message": name, "value": json}; prints one line per test line,
1 when GenSON's schema for that message accepts the value, 0 when it refuses it.
"""
import json
import sys

import jsonschema
from genson import SchemaBuilder


def main():
    train, test = sys.argv[1:3]
    builders = {}
    with open(train) as lines:
        for line in lines:
            message = json.loads(line)
            builders.setdefault(message["message"], SchemaBuilder()).add_object(message["value"])
    validators = {
        name: jsonschema.Draft7Validator(builder.to_schema()) for name, builder in builders.items()
    }
    with open(test) as lines:
        for line in lines:
            message = json.loads(line)
            validator = validators.get(message["message"])
            accepted = validator is not None and validator.is_valid(message["value"])
            print(1 if accepted else 0)


if __name__ == "__main__":
    main()
