"""A fake model server for the evaluation fan-out example and the fan-out tests.

    POST /score {"id": ..., "text": ...} -> {"id": ..., "score": float}
      outage on ----------------------------------------> 503 (the service is down)
      more than `rate` requests in the last second -----> 429, Retry-After: seconds (decimal)
      one request in `error_rate` at random -------------> 500
      otherwise, after `latency` seconds (a range) ------> 200 and the model's score
    GET /stats -> what it served: requests, 429s, 500s, 503s, successes per id
    `history[id]`: (arrival time, status, Retry-After) of every request for that id
    `outage_after` N, `outage_for` T: down for T seconds from the N-th request on

The "model" is deterministic (`expected_score`), so a client can check every answer. Run it
in a thread of the caller (`FakeModelServer(...).start()` -> its URL) or as a program
(`python fake_model_server.py --port 0` prints its URL on the first line).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import random
import threading
import time

from aiohttp import web


def expected_score(text: str) -> float:
    """The small model: the share of vowels in the text, rounded to 4 places."""
    if not text:
        return 0.0
    return round(sum(c in "aeiou" for c in text.lower()) / len(text), 4)


class FakeModelServer:
    def __init__(self, latency: tuple[float, float] = (0.02, 0.05), rate: float | None = None,
                 error_rate: float = 0.0, seed: int = 0, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.latency = latency
        self.rate = rate
        self.error_rate = error_rate
        self.outage = False
        self.outage_after: int | None = None  # go down at this request count ...
        self.outage_for = 0.0  # ... for this many seconds
        self.host, self.port = host, port
        self._random = random.Random(seed)
        self._recent: collections.deque[float] = collections.deque()  # accepted, last 1 s
        self.successes: collections.Counter[str] = collections.Counter()
        # id -> [(time.monotonic() at arrival, status, Retry-After seconds or None)]
        self.history: collections.defaultdict[str, list] = collections.defaultdict(list)
        self.counts = collections.Counter()  # requests, 429, 500, 503, 200
        self.in_flight = 0
        self.max_in_flight = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # ---- requests ---------------------------------------------------------------------------

    async def score(self, request: web.Request) -> web.Response:
        body = await request.json()
        arrived = time.monotonic()
        status, retry_after = await self._answer(body)
        self.history[str(body["id"])].append((arrived, status, retry_after))
        if status == 200:
            return web.json_response({"id": body["id"], "score": expected_score(body["text"])})
        if status == 429:
            return web.json_response({"error": "rate limited"}, status=429,
                                     headers={"Retry-After": f"{retry_after:.3f}"})
        message = "down for maintenance" if status == 503 else "internal error"
        return web.json_response({"error": message}, status=status)

    async def _answer(self, body: dict) -> tuple[int, float | None]:
        """The status of one request (and its Retry-After), after its latency if 200."""
        self.counts["requests"] += 1
        if self.outage_after is not None and self.counts["requests"] >= self.outage_after:
            self.outage_after = None
            self.outage = True
            asyncio.get_running_loop().call_later(self.outage_for, self._recover)
        if self.outage:
            self.counts[503] += 1
            return 503, None
        if self.rate is not None:
            now = time.monotonic()
            while self._recent and self._recent[0] <= now - 1.0:
                self._recent.popleft()
            if len(self._recent) >= self.rate:
                self.counts[429] += 1
                return 429, round(max(0.01, self._recent[0] + 1.0 - now), 3)
            self._recent.append(now)
        if self.error_rate and self._random.random() < self.error_rate:
            self.counts[500] += 1
            return 500, None
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self._random.uniform(*self.latency))
        finally:
            self.in_flight -= 1
        self.counts[200] += 1
        self.successes[str(body["id"])] += 1
        return 200, None

    def _recover(self) -> None:
        self.outage = False

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.snapshot())

    def snapshot(self) -> dict:
        return {"requests": self.counts["requests"], "ok": self.counts[200],
                "rate_limited": self.counts[429], "errors": self.counts[500],
                "unavailable": self.counts[503], "max_in_flight": self.max_in_flight,
                "scored_twice": sorted(k for k, n in self.successes.items() if n > 1)}

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/score", self.score)
        app.router.add_get("/stats", self.stats)
        return app

    # ---- running in a thread ----------------------------------------------------------------

    async def _serve(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=1024)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://{self.host}:{port}"

    def start(self) -> str:
        """Serve on a thread of its own; returns the URL."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = self._loop = asyncio.new_event_loop()
            try:
                loop.run_until_complete(self._serve())
            except BaseException as e:  # reported to start()
                failure.append(e)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-model-server", daemon=True)
        self._thread.start()
        ready.wait(30)
        if failure:
            raise failure[0]
        return self.url

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None

    def __enter__(self) -> FakeModelServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rate", type=float, default=None, help="requests per second")
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--latency", type=float, nargs=2, default=(0.02, 0.5))
    parser.add_argument("--outage-after", type=int, default=None,
                        help="go down at this request (counting from 1)")
    parser.add_argument("--outage-for", type=float, default=2.0, help="seconds")
    args = parser.parse_args()
    server = FakeModelServer(tuple(args.latency), args.rate, args.error_rate, port=args.port)
    server.outage_after, server.outage_for = args.outage_after, args.outage_for
    url = server.start()
    print(url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
