"""A Python team consuming the schema files: validate them and the fixtures with jsonschema,
generate Pydantic models with datamodel-code-generator, and call the Rust user_service
through Nameko with those models. Prints one JSON object of findings.

Usage: python pydantic_client.py SCHEMAS_DIR FIXTURES_DIR OUT_DIR   (AMQP_URI from the env)
"""
import eventlet

eventlet.monkey_patch()

import importlib.util  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import pathlib  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

import pydantic  # noqa: E402
from jsonschema import Draft202012Validator  # noqa: E402
from nameko.standalone.rpc import ClusterRpcProxy  # noqa: E402

schemas, fixtures, out = (pathlib.Path(p) for p in sys.argv[1:4])


def load(path):
    return json.loads(path.read_text())


def generate(schema_file, module):
    """datamodel-codegen, as a Python team would run it, into an importable module."""
    target = out / (module + ".py")
    subprocess.run(
        [
            sys.executable, "-m", "datamodel_code_generator",
            "--input", str(schema_file),
            "--input-file-type", "jsonschema",
            "--output-model-type", "pydantic_v2.BaseModel",
            "--output", str(target),
        ],
        check=True,
    )
    spec = importlib.util.spec_from_file_location(module, target)
    loaded = importlib.util.module_from_spec(spec)
    # Registered first: the models' deferred annotations resolve through sys.modules.
    sys.modules[module] = loaded
    spec.loader.exec_module(loaded)
    return loaded


def main():
    out.mkdir(parents=True, exist_ok=True)
    results = {}

    # Every message schema is a valid Draft 2020-12 schema for Python's jsonschema.
    checked = []
    for path in sorted(schemas.glob("*/*.json")):
        if path.name != "service.json":
            Draft202012Validator.check_schema(load(path))
            checked.append(str(path.relative_to(schemas)))
    results["schemas_checked"] = len(checked)

    # Every service.json is what the manifest's own schema describes.
    manifest_schema = load(schemas / "service.schema.json")
    Draft202012Validator.check_schema(manifest_schema)
    manifests = Draft202012Validator(manifest_schema)
    results["manifest_errors"] = {
        str(path.relative_to(schemas)): [e.message for e in manifests.iter_errors(load(path))]
        for path in sorted(schemas.glob("*/service.json"))
    }

    # Python's validator agrees with the Rust one on the fixtures.
    verdicts = {}
    for message_dir in sorted(p for p in fixtures.iterdir() if p.is_dir()):
        service, message = message_dir.name.split(".", 1)
        manifest = load(schemas / service / "service.json")
        files = {m["name"]: m["request"]["schema"] for m in manifest["methods"]}
        files.update({e["name"]: e["payload"]["schema"] for e in manifest["events"]})
        validator = Draft202012Validator(load(schemas / service / files[message]))
        for verdict in ("good", "bad"):
            for payload in sorted((message_dir / verdict).glob("*.json")):
                valid = validator.is_valid(load(payload))
                verdicts[f"{message_dir.name}/{verdict}/{payload.name}"] = valid
    results["fixtures"] = verdicts

    # Pydantic models from the schema files.
    request = generate(schemas / "user_service" / "create_user.request.json", "create_user_request")
    reply = generate(schemas / "user_service" / "create_user.reply.json", "create_user_reply")
    try:
        request.UserData(user_id=0, name="Zero")
        results["pydantic_rejects_user_id_0"] = False
    except pydantic.ValidationError:
        results["pydantic_rejects_user_id_0"] = True

    # A Nameko client sends the model, and reads the reply into the reply model.
    call = request.CreateUserRequest(user_data=request.UserData(user_id=11, name="Py Dantic"))
    with ClusterRpcProxy({"AMQP_URI": os.environ["AMQP_URI"]}, timeout=10) as n:
        raw = n.user_service.create_user(**call.model_dump(mode="json"))
    created = reply.Created.model_validate(raw)
    results["reply"] = created.model_dump(mode="json")
    results["reply_type"] = type(created).__name__
    print(json.dumps(results))


if __name__ == "__main__":
    main()
