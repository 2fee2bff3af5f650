"""The dashboard's web application (Starlette): one page, its state, live updates, approvals.

    browser --GET /?token=T---------------> the page (token in a meta tag, assets carry it)
            --GET /static/...?token=T-----> the page's script, styles, uPlot (vendored)
            --GET /api/state?token=T------> the current state (JSON)
            --GET /api/events?token=T-----> server-sent events: a state every `interval` s
            --POST /api/decision----------> approve or reject a pending approval
                  X-Zixir-Token: T, Origin: this server's own origin, JSON body

    TokenGate (ASGI middleware): no token -> 401, a wrong one -> 403, before any route.

No endpoint runs code or queries the store freely: the state is what `source.state()` builds,
and the only change a request can make is a decision on an approval step that is waiting.
"""

from __future__ import annotations

import asyncio
import html
import json
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from zixir.lang.errors import ZixirError

TOKEN_HEADER = "x-zixir-token"
STATIC = resources.files("zixir.dashboard") / "static"
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
    "referrer-policy": "no-referrer",  # the token is in the page's address
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
}


class TokenGate:
    """Refuse every HTTP request that does not carry the token (query `token` or header)."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        given = request.headers.get(TOKEN_HEADER) or request.query_params.get("token")
        if not given:
            response = PlainTextResponse("a dashboard token is required: open the URL zixir "
                                         "printed", 401, headers=SECURITY_HEADERS)
        elif not secrets.compare_digest(given.encode(), self.token.encode()):
            response = PlainTextResponse("wrong dashboard token", 403, headers=SECURITY_HEADERS)
        else:
            async def send_secure(message: dict) -> None:
                if message["type"] == "http.response.start":
                    headers = list(message.get("headers", []))
                    present = {k.lower() for k, _ in headers}
                    headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()
                                if k.encode() not in present]
                    message = {**message, "headers": headers}
                await send(message)

            await self.app(scope, receive, send_secure)
            return
        await response(scope, receive, send)


class Broadcast:
    """The source's state for each page, every `interval` seconds. The source is read on one
    thread of its own: the router sees one more client thread, not one per request, and a
    store file's connection is used by one thread at a time."""

    def __init__(self, source: Any, interval: float) -> None:
        self.source = source
        self.interval = interval
        self.stopping = threading.Event()  # set by the server's owner, from its own thread
        self.reader = ThreadPoolExecutor(1, thread_name_prefix="zixir-dashboard-source")

    async def run(self, function: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.reader, function, *args)

    async def state(self) -> dict:
        try:
            return await self.run(self.source.state)
        except Exception as e:  # the runtime may be closing or failed: say so on the page
            return {"mode": getattr(self.source, "mode", "live"), "error": str(e)}

    async def stream(self):
        while not self.stopping.is_set():
            state = await self.state()
            yield f"data: {json.dumps(state, default=str)}\n\n"
            next_at = time.monotonic() + self.interval
            while not self.stopping.is_set() and time.monotonic() < next_at:
                await asyncio.sleep(min(0.1, self.interval))


def build_app(source: Any, token: str, interval: float = 1.0) -> Any:
    """The ASGI application for `source` (a `source.RuntimeSource` or `StoreSource`)."""
    broadcast = Broadcast(source, interval)

    async def page(request: Request) -> HTMLResponse:
        text = (STATIC / "index.html").read_text(encoding="utf-8")
        return HTMLResponse(text.replace("{{token}}", html.escape(token, quote=True)))

    async def state(request: Request) -> JSONResponse:
        return JSONResponse(json.loads(json.dumps(await broadcast.state(), default=str)))

    async def events(request: Request) -> StreamingResponse:
        return StreamingResponse(broadcast.stream(), media_type="text/event-stream",
                                 headers={"x-accel-buffering": "no"})

    async def decision(request: Request) -> JSONResponse:
        if request.headers.get(TOKEN_HEADER) is None:
            return JSONResponse({"error": f"decisions need the {TOKEN_HEADER} header"}, 403)
        origin = request.headers.get("origin")
        if origin != f"{request.url.scheme}://{request.headers.get('host')}":
            return JSONResponse({"error": "decisions are accepted only from the dashboard's "
                                          "own page (Origin)"}, 403)
        try:
            body = await request.json()
            name, key, step = (str(body["workflow"]), str(body.get("key") or "default"),
                               str(body["step"]))
            verdict, note = body["decision"], str(body.get("note") or "")
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": "expected JSON with workflow, step and decision"}, 400)
        if verdict not in ("approve", "reject"):
            return JSONResponse({"error": "decision must be approve or reject"}, 400)
        try:
            done = await broadcast.run(source.decide, name, key, step, verdict == "approve",
                                       note)
        except ZixirError as e:
            return JSONResponse({"error": e.message}, 409)
        return JSONResponse(done)

    app = Starlette(routes=[
        Route("/", page),
        Route("/api/state", state),
        Route("/api/events", events),
        Route("/api/decision", decision, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
    ])
    gated = TokenGate(app, token)
    gated.broadcast = broadcast  # type: ignore[attr-defined]
    return gated
