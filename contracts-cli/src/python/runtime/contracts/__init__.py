"""What every generated contracts package shares: checked messages over Nameko.

`contracts codegen python` writes this package next to each generated one, the same text
for the same version of the tool. A generated module (one per service) holds the service's
Pydantic models and builds its typed client, guard and event dispatcher from the classes
here:

- `contracts.exceptions`: `ValidationError`, raised and sent when a message breaks its
  contract, and `DeclaredError`, the base of a service's declared errors;
- `contracts.messages`: how a message is checked, as the JSON text that crosses the wire;
- `contracts.client`: typed calls through any Nameko RPC proxy or client;
- `contracts.guard`: the decorators that check a Python implementation's messages;
- `contracts.events`: a typed, checked event dispatcher;
- `contracts.dependency`: how their Nameko dependencies read in a worker.
"""
