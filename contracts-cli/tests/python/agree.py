"""Prints, for each sample, whether the generated model accepts it.

Usage: agree.py DIR SAMPLES_FILE (a JSON array of values). The module is `sinkpkg/sink.py`
under DIR (in a package, beside the runtime it imports), its model `REQUESTS["sink"]`.
"""

import json
import sys

import pydantic

sys.path.insert(0, sys.argv[1])

from sinkpkg import sink  # noqa: E402

model = sink.REQUESTS["sink"]
verdicts = []
for sample in json.loads(open(sys.argv[2]).read()):
    try:
        model.model_validate_json(json.dumps(sample))
        verdicts.append(True)
    except pydantic.ValidationError:
        verdicts.append(False)
print(json.dumps(verdicts))
