"""A Nameko 3 service traced by opentelemetry-instrumentation-nameko, between two Rust ends.

Usage: python traced.py   (AMQP_URI and OTLP_ENDPOINT from the environment)
`py_trace.relay(name)` calls the Rust `my_service.hello(name)` and returns its reply. Spans go
over OTLP/gRPC to OTLP_ENDPOINT, one at a time as they end. Prints READY once it consumes;
SIGTERM stops it.
"""
import eventlet

eventlet.monkey_patch()

import os  # noqa: E402
import signal  # noqa: E402

from opentelemetry import trace  # noqa: E402
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from nameko_opentelemetry import NamekoInstrumentor  # noqa: E402

provider = TracerProvider(resource=Resource.create({"service.name": "py-trace"}))
provider.add_span_processor(
    SimpleSpanProcessor(OTLPSpanExporter(endpoint=os.environ["OTLP_ENDPOINT"], insecure=True))
)
trace.set_tracer_provider(provider)
NamekoInstrumentor().instrument()

from nameko import config  # noqa: E402
from nameko.rpc import ServiceRpc, rpc  # noqa: E402
from nameko.runners import ServiceRunner  # noqa: E402


class PyTrace:
    name = "py_trace"
    my_service = ServiceRpc("my_service")

    @rpc
    def relay(self, name):
        return self.my_service.hello(name)


def main():
    config.setup({"AMQP_URI": os.environ["AMQP_URI"], "max_workers": 10})
    runner = ServiceRunner()
    runner.add_service(PyTrace)

    def stop(signum, frame):
        eventlet.spawn_n(runner.stop)

    signal.signal(signal.SIGTERM, stop)
    runner.start()
    print("READY", flush=True)
    runner.wait()


if __name__ == "__main__":
    main()
