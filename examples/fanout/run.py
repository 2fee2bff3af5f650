"""Run the evaluation fan-out example: start the fake model server, score the dataset through
zixir (eval.zx, with the policies of zixir.toml, which the runtime reads), print throughput, retries, breaker changes.

    python examples/fanout/run.py [--examples 400] [--rate 150] [--no-outage]

The server is a separate process on 127.0.0.1 (a free port): answers take 20-200 ms, it
allows 150 requests a second (429 with Retry-After beyond), fails 5% of requests with a 500,
and, unless --no-outage, is down (503) for 1.5 s two seconds in: the breaker opens, the
failed examples are scored again once it has closed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def start_server(rate: float, outage_at: int | None) -> tuple[subprocess.Popen, str]:
    argv = [sys.executable, os.path.join(HERE, "fake_model_server.py"), "--rate", str(rate),
            "--error-rate", "0.05", "--latency", "0.02", "0.2"]
    if outage_at:
        argv += ["--outage-after", str(outage_at), "--outage-for", "1.5"]
    server = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    url = server.stdout.readline().strip()
    if not url.startswith("http://"):
        server.kill()
        raise SystemExit("the fake model server did not start")
    return server, url


def main() -> None:
    parser = argparse.ArgumentParser(description="the evaluation fan-out example")
    parser.add_argument("--rate", type=float, default=150.0, help="the server's limit, per s")
    parser.add_argument("--examples", type=int, default=400)
    parser.add_argument("--no-outage", action="store_true")
    args = parser.parse_args()

    import zixir

    server, url = start_server(args.rate, None if args.no_outage else args.examples // 4)
    try:
        with zixir.Runtime(config=os.path.join(HERE, "zixir.toml"), paths=[HERE],
                           log_level="off") as rt:
            rt.memory.put("model_url", url)
            rt.memory.put("examples", args.examples)
            started = time.perf_counter()
            result = rt.run_file(os.path.join(HERE, "eval.zx"))
            elapsed = time.perf_counter() - started
            stats = rt.stats()["router"]
        with urllib.request.urlopen(f"{url}/stats") as response:
            served = json.loads(response.read())
    finally:
        server.terminate()
        server.wait(10)
    counts = stats.get("counts", {})
    print(f"result: {result}")
    print(f"throughput: {result['scored'] / elapsed:.1f} examples/s "
          f"({result['scored']} in {elapsed:.2f} s)")
    print(f"retries: {counts.get('retries', 0)}, refused by an open circuit: "
          f"{counts.get('refused.circuit_open', 0)}, timeouts: {counts.get('timeouts', 0)}")
    for name, breaker in sorted(stats.get("breakers", {}).items()):
        if breaker["transitions"] == 0 and breaker["state"] == "closed":
            continue  # a module that never failed (the dataset, the clock)
        print(f"breaker {name}: {breaker['transitions']} transitions, now {breaker['state']}")
    print(f"server: {served['requests']} requests, {served['ok']} scored, "
          f"{served['rate_limited']} answered 429, {served['errors']} answered 500, "
          f"{served['unavailable']} answered 503, at most {served['max_in_flight']} at once, "
          f"scored twice: {len(served['scored_twice'])}")


if __name__ == "__main__":
    main()
