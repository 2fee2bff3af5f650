"""The host's view of a runtime's metrics: `Runtime.metrics()` and `--metrics-port`.

    scrape (HTTP GET /metrics, or Runtime.metrics())
      HostCollector.collect()
        the host's families: router and memory-store restarts, escalations, router up
        + the router's text (its "metrics" request), parsed back into families
      --> prometheus_client's writer --> one exposition

The counters of calls, workers and breakers live in the router process, where the events
happen; the host only asks for them when scraped, so an idle runtime costs nothing. When the
router is down (restarting) the scrape still answers, with `zixir_router_up 0`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .metrics import exposition, parse


class HostCollector:
    """A prometheus_client collector over one `Runtime`."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    def collect(self) -> Iterable:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        rt = self.runtime
        counts = rt._stats.snapshot()["counts"]
        router_text = None
        try:
            router_text = rt._router_metrics()
        except Exception:  # the router is restarting, or the runtime failed
            router_text = None
        yield GaugeMetricFamily("zixir_router_up", "1 when the router process answered this "
                                "scrape", value=1 if router_text is not None else 0)
        yield CounterMetricFamily("zixir_router_restarts", "Router processes restarted by "
                                  "the root supervisor", value=counts.get("router_restarts", 0))
        yield CounterMetricFamily("zixir_memory_store_restarts", "Memory store processes "
                                  "restarted by the root supervisor",
                                  value=counts.get("store_restarts", 0))
        escalations = CounterMetricFamily("zixir_supervisor_escalations", "Supervisors that "
                                          "exceeded their restart intensity",
                                          labels=["supervisor"])
        escalations.add_metric(["workers"], counts.get("worker_escalations", 0))
        escalations.add_metric(["root"], 1 if rt._supervisor.escalated else 0)
        yield escalations
        if router_text:
            yield from parse(router_text)


def host_text(runtime: Any) -> str:
    return exposition(HostCollector(runtime).collect())


class MetricsServer:
    """prometheus_client's HTTP server for one runtime, on `host:port` (port 0: any free)."""

    def __init__(self, runtime: Any, host: str, port: int) -> None:
        from prometheus_client import CollectorRegistry, start_http_server

        registry = CollectorRegistry(auto_describe=False)
        registry.register(HostCollector(runtime))
        self._server, self._thread = start_http_server(port, addr=host, registry=registry)
        self.host = host
        self.port = int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5.0)
