"""The client of the model server, called from Zixir: `python "model_client" "score" (...)`.

`score` is an `async def`: zixir runs it on the worker's event loop, many calls in flight per
worker. Failures are typed so that zixir.toml can name them: `retries.on` retries
`model_client.RateLimited` (waiting at least its `retry_after`) and
`model_client.ServerError`; `breaker.on` counts `model_client.ServiceDown`.
`score_blocking` is the same call with a blocking client (for `threads = N`).
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import aiohttp


class ModelError(Exception):
    """The model server did not score the example."""


class RateLimited(ModelError):
    """429: the server asks us to come back after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServerError(ModelError):
    """500: a transient failure of the server."""


class ServiceDown(ModelError):
    """503: the service is down (an outage): retrying does not help, the breaker should open."""


_sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}


def _session() -> aiohttp.ClientSession:
    loop = asyncio.get_running_loop()
    session = _sessions.get(loop)
    if session is None or session.closed:
        # no connection cap here: zixir's `concurrency` is the limit
        session = _sessions[loop] = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0))
    return session


def _raise_for(status: int, retry_after: str | None, body: str) -> None:
    if status == 429:
        raise RateLimited(f"rate limited: {body}", float(retry_after or 1.0))
    if status == 503:
        raise ServiceDown(f"service unavailable: {body}")
    if status >= 500:
        raise ServerError(f"server error {status}: {body}")
    raise ModelError(f"unexpected status {status}: {body}")


async def score(url: str, example_id: str | int, text: str, timeout: float = 30.0) -> float:
    """The model's score for one example."""
    async with _session().post(f"{url}/score", json={"id": example_id, "text": text},
                               timeout=aiohttp.ClientTimeout(total=timeout)) as response:
        if response.status != 200:
            _raise_for(response.status, response.headers.get("Retry-After"),
                       await response.text())
        return (await response.json())["score"]


def score_blocking(url: str, example_id: str | int, text: str, timeout: float = 30.0) -> float:
    """`score` with a blocking client (urllib)."""
    request = urllib.request.Request(
        f"{url}/score", data=json.dumps({"id": example_id, "text": text}).encode(),
        headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())["score"]
    except urllib.error.HTTPError as e:
        _raise_for(e.code, e.headers.get("Retry-After"), e.read().decode(errors="replace"))
        raise  # pragma: no cover

