"""The live web dashboard: supervision tree, per-module call charts, breakers, agents,
workflow runs and approvals (`zixir run --dashboard`, `Runtime(dashboard=...)`,
`zixir dashboard --memory PATH`).

    source.py   what is shown, read from a Runtime or a store file (the only reader)
    app.py      the Starlette application: page, state, server-sent events, decisions
    server.py   uvicorn on a thread, the token, the URL
    static/     the page (HTML, script, styles) and the vendored uPlot charts

Starlette and uvicorn come with the `dashboard` extra: `pip install 'zixir[dashboard]'`.
"""

from .server import DashboardServer, serve_runtime, serve_store

__all__ = ["DashboardServer", "serve_runtime", "serve_store"]
