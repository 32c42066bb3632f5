"""What every generated contracts package carries: checked messages over Nameko.

`contracts codegen python` writes this subpackage into each generated package as
`<package>._runtime`, the same text for the same version of the tool, so a package installs
beside any other (two generated packages, or PyContracts' `contracts`) without sharing a
file. A generated module (one per service) holds the service's Pydantic models and builds its
typed client, guard and event dispatcher from the classes here:

- `.exceptions`: `ValidationError`, raised and sent when a message breaks its
  contract, and `DeclaredError`, the base of a service's declared errors;
- `.messages`: how a message is checked, as the JSON text that crosses the wire;
- `.client`: typed calls through any Nameko RPC proxy or client;
- `.guard`: the decorators that check a Python implementation's messages;
- `.events`: a typed, checked event dispatcher;
- `.dependency`: how their Nameko dependencies read in a worker.
"""
