"""OpenTelemetry traces of a run, configured by the standard OTEL_* environment variables.

    host (Runtime)            router                                   worker
    --------------            ------                                   ------
    an active span of the     "zixir.run" / "zixir.eval" span  ----+
    embedding program? its    (parent: the host's context, if sent)|
    W3C traceparent goes      "python MODULE.FUNCTION" span   <----+ (one per call, retries
    with run_file / eval      per call: module, function,            included; attempts,
    (optional trailing        attempts, worker pid, outcome          worker pid, outcome)
    field) ---------------->  the call request's options carry    ->  attach(carrier): spans
                              {"trace": {"traceparent": ...}} ---     the library makes are
                              "workflow.step NAME" spans               children of the call's
                                                                       span

Off unless configured: `ENABLED` is decided once from the environment (OTEL_TRACES_EXPORTER
other than "none", or an OTLP endpoint; OTEL_SDK_DISABLED=true wins), and every hook is a
check of that flag when it is off: opentelemetry is not even imported. When on, each process
(router, worker) builds its own SDK TracerProvider with a batch processor per exporter
("otlp": OTLP over HTTP/protobuf; "console"; any name registered as an
`opentelemetry_traces_exporter` entry point), makes it the process's global provider (so
library code in a worker finds it) and flushes it before the process exits. The host never
installs a provider: an embedding program's own configuration is left alone.

Spans of work running on other threads (pmap, workflow.map) find the run's span through
`run_context()`: the deep-thread pool copies contexts, and anything that starts on a thread of
its own falls back to the run that is in progress. Python calls made by tasks run in fibers,
many per thread: the call in progress is a context variable, so each fiber sees its own.
"""

from __future__ import annotations

import contextvars
import os
import sys
import threading
from typing import Any

ENV_ON_KEYS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def configured(env: Any = None) -> bool:
    """Do the OTEL_* variables ask for traces?"""
    env = os.environ if env is None else env
    if str(env.get("OTEL_SDK_DISABLED", "")).strip().lower() == "true":
        return False
    exporters = env.get("OTEL_TRACES_EXPORTER")
    if exporters is not None:
        return any(e.strip() not in ("", "none") for e in exporters.split(","))
    return any(env.get(k) for k in ENV_ON_KEYS)


#: the flag every hook checks; False until OTEL_* variables ask for traces
ENABLED: bool = configured()

_lock = threading.Lock()
_tracer: Any = None
_provider: Any = None
_role = "zixir"
#: the CallSpan of the Python call in progress, per fiber: a context variable, since greenlet
#: gives every greenlet its own context (many calls share a thread, one per fiber)
_call: contextvars.ContextVar[Any] = contextvars.ContextVar("zixir_call_span", default=None)
_run_contexts: list[Any] = []  # contexts of the runs in progress (the fallback parent)


def set_role(role: str) -> None:
    """Name this process in its spans' resource (`zixir.process`: router, worker)."""
    global _role
    _role = role


def tracer() -> Any:
    """The process's tracer (the SDK is set up at the first use); None when tracing is off or
    cannot be set up."""
    global _tracer, ENABLED
    if _tracer is not None or not ENABLED:
        return _tracer
    with _lock:
        if _tracer is None and ENABLED:
            try:
                _tracer = _setup()
            except Exception as e:  # a missing package or exporter: say so once, trace nothing
                ENABLED = False
                if _role == "router":
                    os.write(2, f"zixir: warning: traces are off: {e}\n".encode())
    return _tracer


def _setup() -> Any:
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        raise RuntimeError("OTEL_* variables ask for traces but opentelemetry-sdk is not "
                           "installed (pip install 'zixir[otel]')") from None
    global _provider
    attributes: dict[str, Any] = {"zixir.process": _role, "process.pid": os.getpid()}
    if not os.environ.get("OTEL_SERVICE_NAME"):
        attributes["service.name"] = "zixir"
    provider = TracerProvider(resource=Resource.create(attributes))
    for exporter in _exporters():
        provider.add_span_processor(BatchSpanProcessor(exporter))
    if _role != "host":
        trace.set_tracer_provider(provider)
    _provider = provider
    if _role == "worker":
        _flush_on_sigterm()
    from zixir import __version__

    return provider.get_tracer("zixir", __version__)


def _exporters() -> list[Any]:
    names = [n.strip() for n in os.environ.get("OTEL_TRACES_EXPORTER", "otlp").split(",")]
    out = []
    for name in names:
        if name in ("", "none"):
            continue
        if name == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            out.append(ConsoleSpanExporter(out=sys.stderr))  # stdout is the program's
            continue
        if name == "otlp":
            protocol = (os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
                        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf")
            name = "otlp_proto_grpc" if protocol == "grpc" else "otlp_proto_http"
        out.append(_entry_point(name)())
    return out


def _flush_on_sigterm() -> None:
    """A worker is stopped with SIGTERM: export its buffered spans first (in the main thread,
    where the worker serves; elsewhere the default action stays)."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        return

    def stop(signum: int, frame: Any) -> None:
        shutdown()
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)


def _entry_point(name: str) -> Any:
    from importlib.metadata import entry_points

    for ep in entry_points(group="opentelemetry_traces_exporter"):
        if ep.name == name:
            return ep.load()
    hint = " (pip install 'zixir[otel]')" if name == "otlp_proto_http" else ""
    raise RuntimeError(f"no trace exporter named {name!r} is installed{hint}")


def shutdown() -> None:
    """Export what is buffered (before the process exits)."""
    provider = _provider
    if provider is not None:
        try:
            provider.shutdown()
        except Exception:
            pass


# ---- context carried between processes ----------------------------------------------------------


def inject() -> dict | None:
    """The current span's context as a W3C carrier ({"traceparent": ...}), or None."""
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier, context=_parent())
    return carrier or None


def host_carrier() -> dict | None:
    """In the host: the embedding program's active span as a carrier for the router, if it
    uses OpenTelemetry at all (never imported here otherwise)."""
    if "opentelemetry.trace" not in sys.modules:
        return None
    from opentelemetry import trace

    if not trace.get_current_span().get_span_context().is_valid:
        return None
    return inject()


class attached:
    """`with attached(carrier):` the remote span in `carrier` is the current context (a worker
    running a call: the library's spans become children of the call's span)."""

    __slots__ = ("carrier", "token")

    def __init__(self, carrier: Any) -> None:
        self.carrier = carrier
        self.token = None

    def __enter__(self) -> attached:
        if ENABLED and isinstance(self.carrier, dict) and tracer() is not None:
            from opentelemetry import context
            from opentelemetry.trace.propagation.tracecontext import (
                TraceContextTextMapPropagator,
            )

            ctx = TraceContextTextMapPropagator().extract(
                {str(k): str(v) for k, v in self.carrier.items()})
            self.token = context.attach(ctx)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.token is not None:
            from opentelemetry import context

            context.detach(self.token)
            self.token = None


def _parent() -> Any:
    """The context new spans start in: the current one if it has a span, else the run in
    progress (work started on a thread of its own)."""
    from opentelemetry import context, trace

    current = context.get_current()
    if trace.get_current_span(current).get_span_context().is_valid or not _run_contexts:
        return current
    return _run_contexts[-1]


# ---- spans ------------------------------------------------------------------------------------


class span:
    """`with span(name, {attributes}) as s:` a span in the current context (a no-op when
    tracing is off); an exception leaving the block marks it as an error. `s.set(key, value)`
    adds an attribute; for agents, workflow steps and anything else worth a span."""

    __slots__ = ("name", "attributes", "kind", "parent", "run", "_span", "_token", "_ctx")

    def __init__(self, name: str, attributes: dict | None = None, *, kind: str = "internal",
                 parent: dict | None = None, run: bool = False) -> None:
        self.name, self.attributes, self.kind = name, attributes, kind
        self.parent, self.run = parent, run
        self._span: Any = None
        self._token: Any = None
        self._ctx: Any = None

    def __enter__(self) -> span:
        t = tracer() if ENABLED else None
        if t is None:
            return self
        from opentelemetry import context, trace

        if self.parent:
            from opentelemetry.trace.propagation.tracecontext import (
                TraceContextTextMapPropagator,
            )

            ctx = TraceContextTextMapPropagator().extract(
                {str(k): str(v) for k, v in self.parent.items()})
        else:
            ctx = _parent()
        kind = getattr(trace.SpanKind, self.kind.upper())
        self._span = t.start_span(self.name, context=ctx, kind=kind,
                                  attributes=_clean(self.attributes))
        new = trace.set_span_in_context(self._span, ctx)
        self._token = context.attach(new)
        if self.run:
            self._ctx = new
            with _lock:
                _run_contexts.append(new)
        return self

    def set(self, key: str, value: Any) -> None:
        if self._span is not None and value is not None:
            self._span.set_attribute(key, value if isinstance(value, (bool, int, float, str))
                                     else str(value))

    def fail(self, error: BaseException) -> None:
        if self._span is not None:
            from opentelemetry.trace import Status, StatusCode

            self._span.record_exception(error)
            self._span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: "
                                         f"{getattr(error, 'message', error)}"))

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self._span is None:
            return
        from opentelemetry import context

        if exc is not None:
            self.fail(exc)
        if self._ctx is not None:
            with _lock:
                if self._ctx in _run_contexts:
                    _run_contexts.remove(self._ctx)
            self._ctx = None
        context.detach(self._token)
        self._span.end()
        self._span = self._token = None


def _clean(attributes: dict | None) -> dict | None:
    if not attributes:
        return attributes
    return {k: (v if isinstance(v, (bool, int, float, str)) else str(v))
            for k, v in attributes.items() if v is not None}


class CallSpan(span):
    """The span of one Python call (all its attempts); `attempt(options, pid)` marks an
    attempt on a worker and returns the call options carrying the span's context."""

    __slots__ = ("attempts", "previous")  # previous: the token restoring the outer call

    def __init__(self, module: str, function: str) -> None:
        super().__init__(f"python {module}.{function}",
                         {"zixir.module": module, "zixir.function": function}, kind="client")
        self.attempts = 0
        self.previous: Any = None

    def __enter__(self) -> CallSpan:
        super().__enter__()
        self.previous = _call.set(self)
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        _call.reset(self.previous)
        from zixir.observe.metrics import outcome_of

        self.set("zixir.outcome", outcome_of(exc))
        self.set("zixir.attempts", self.attempts)
        if exc is not None:
            self.set("zixir.error", type(exc).__name__)
        super().__exit__(exc_type, exc, tb)


def attempt(options: dict, pid: int) -> dict:
    """Called with a worker taken for an attempt of the current call: counts the attempt,
    notes the worker's pid and returns `options` with the trace context for the worker."""
    call = _call.get()
    if call is None or call._span is None:
        return options
    call.attempts += 1
    call.set("zixir.attempt", call.attempts)
    call.set("zixir.worker.pid", pid)
    call._span.add_event("attempt", {"zixir.attempt": call.attempts, "zixir.worker.pid": pid})
    carrier = inject()
    return {**options, "trace": carrier} if carrier else options
