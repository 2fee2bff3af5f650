"""Watching a run: progress bars, metrics, traces and log rendering.

    metrics   counters and latency histograms recorded where events happen (the router's call
              path, retries, rate-limit waits, workflow steps, agents), exposed as Prometheus
              text and as plain data (`snapshot()`, for `Runtime.stats()` and the dashboard)
    tracing   OpenTelemetry spans (run, Python call, workflow step, agent call), configured by
              the standard OTEL_* environment variables; a flag check when they are not set
    progress  fan-outs of 100+ items report done/total/failures; the router sends them to the
              host, which draws rich progress bars on a terminal
    table     `zixir run --stats`: the runtime's statistics as a table with units

Every module here is cheap to import: prometheus_client, opentelemetry and rich are imported
only when something is exposed, traced or drawn.
"""
