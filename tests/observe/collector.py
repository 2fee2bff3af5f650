"""A stand-in OpenTelemetry collector: a real HTTP server on 127.0.0.1 that receives OTLP/HTTP
protobuf trace exports (POST /v1/traces) and keeps every span it was sent."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Collector:
    def __init__(self) -> None:
        self.spans: list[dict] = []
        self._lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/v1/traces":
                    collector._receive(body)
                    self.send_response(200)
                else:
                    self.send_response(404)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def _receive(self, body: bytes) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        found = []
        for rs in request.resource_spans:
            resource = {a.key: _value(a.value) for a in rs.resource.attributes}
            for ss in rs.scope_spans:
                for s in ss.spans:
                    found.append({
                        "name": s.name, "trace_id": s.trace_id.hex(), "span_id": s.span_id.hex(),
                        "parent_id": s.parent_span_id.hex(), "resource": resource,
                        "attributes": {a.key: _value(a.value) for a in s.attributes},
                        "status": s.status.code, "events": [e.name for e in s.events],
                    })
        with self._lock:
            self.spans.extend(found)

    def wait_for(self, names: dict[str, int], timeout: float = 30.0) -> list[dict]:
        """The spans received, once there are at least names[name] spans of each name."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                spans = list(self.spans)
            if all(sum(s["name"] == n for s in spans) >= k for n, k in names.items()):
                return spans
            if time.monotonic() > deadline:
                raise AssertionError(f"spans {sorted(names)} not all received; got "
                                     f"{sorted({s['name'] for s in spans})}")
            time.sleep(0.05)

    def __enter__(self) -> Collector:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def _value(v):
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None
