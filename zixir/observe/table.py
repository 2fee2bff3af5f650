"""`zixir run --stats`: a runtime's statistics (`Runtime.stats()`) as tables with units.

    Python calls       one row per module.function: calls, failed, retries, latency
                       p50/p90/p99/max (ms or s), and the total
    Failures           per function and error type
    Workers, agents, breakers, refusals, rate-limit waits, workflow steps, processes
    (restarts, escalation), the program's requests
"""

from __future__ import annotations


def duration(ms: float | None) -> str:
    """Milliseconds as people read them: 0.42 ms, 12.3 ms, 1.52 s, 2 min 5 s."""
    if ms is None:
        return "-"
    if ms < 1:
        return f"{ms:.2f} ms"
    if ms < 1000:
        return f"{ms:.1f} ms" if ms < 100 else f"{ms:.0f} ms"
    seconds = ms / 1000
    if seconds < 120:
        return f"{seconds:.2f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60)} s"


def _grid(header: list[str], rows: list[list[str]], indent: str = "  ") -> list[str]:
    """Columns aligned: the first to the left, the others to the right."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    out = []
    for row in [header, *rows]:
        cells = [str(row[0]).ljust(widths[0])]
        cells += [str(c).rjust(w) for c, w in zip(row[1:], widths[1:], strict=False)]
        out.append(indent + "  ".join(cells).rstrip())
    return out


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def format_stats(stats: dict) -> str:
    """The report `zixir run --stats` prints to stderr."""
    host = stats.get("host") or {}
    router = stats.get("router") or {}
    lines = ["zixir runtime statistics"]
    if "unavailable" in router:
        lines.append(f"  router: not available ({router['unavailable']})")
    lines += _calls(router)
    lines += _failures(router)
    lines += _workers(router)
    lines += _agents(router)
    lines += _breakers(router)
    lines += _refusals(router)
    lines += _rate_waits(router)
    lines += _steps(router)
    lines += _processes(host, stats.get("supervisor") or {})
    lines += _requests(host)
    return "\n".join(lines)


def _calls(router: dict) -> list[str]:
    calls = ((router.get("metrics") or {}).get("calls")) or {}
    if not calls:
        return ["Python calls: none"]
    rows = []
    total = failed = retries = 0
    for name in sorted(calls):
        c = calls[name]
        n = int(c.get("calls", 0))
        bad = n - int((c.get("outcomes") or {}).get("ok", 0))
        total, failed, retries = total + n, failed + bad, retries + int(c.get("retries", 0))
        lat = c.get("latency_ms") or {}
        rows.append([name, n, bad, c.get("retries", 0), duration(lat.get("p50")),
                     duration(lat.get("p90")), duration(lat.get("p99")),
                     duration(lat.get("max"))])
    everything = ((router.get("latency_ms") or {}).get("call")) or {}
    if len(rows) > 1:
        rows.append(["all", total, failed, retries, duration(everything.get("p50")),
                     duration(everything.get("p90")), duration(everything.get("p99")),
                     duration(everything.get("max"))])
    return ["Python calls (latency: time to result, retries included)"] + _grid(
        ["function", "calls", "failed", "retries", "p50", "p90", "p99", "max"], rows)


def _failures(router: dict) -> list[str]:
    calls = ((router.get("metrics") or {}).get("calls")) or {}
    rows = [[name, error, count] for name in sorted(calls)
            for error, count in sorted((calls[name].get("errors") or {}).items())]
    if not rows:
        return []
    return ["Failures by error type"] + _grid(["function", "error", "count"], rows)


def _workers(router: dict) -> list[str]:
    w = router.get("workers") or {}
    if not w:
        return []
    live, idle = int(w.get("count") or 0), int(w.get("idle") or 0)
    text = (f"Workers: {live} running ({live - idle} busy, {idle} idle), "
            f"{_plural(int(w.get('restarts') or 0), 'restart')} after a crash, "
            f"{int(w.get('replacements') or 0)} replaced on purpose (timeout, recycling), "
            f"{_plural(int(w.get('queued') or 0), 'call')} waiting")
    if w.get("escalated"):
        text += f"; gave up: {w['escalated']}"
    return [text]


def _agent_summary(router: dict) -> str | None:
    """The agents of a live router: counts by status, restarts, calls and latencies."""
    a = router.get("agents") or {}
    if not a.get("count"):
        return None
    lat = router.get("latency_ms") or {}
    call, start = lat.get("agent_call") or {}, lat.get("agent_start") or {}
    states = ", ".join(f"{int(a.get(s) or 0)} {s}"
                       for s in ("running", "restarting", "failed", "stopped") if a.get(s))
    text = (f"Agents: {int(a['count'])} ({states}), "
            f"{_plural(int(a.get('restarts') or 0), 'restart')}, "
            f"{_plural(int(a.get('calls') or 0), 'call')} served")
    if call:
        text += f" (p50 {duration(call.get('p50'))}, max {duration(call.get('max'))})"
    if start:
        text += f"; start p50 {duration(start.get('p50'))}"
    return text


def _breakers(router: dict) -> list[str]:
    breakers = router.get("breakers") or {}
    if not breakers:
        return []
    rows = []
    for key, b in sorted(breakers.items()):
        state = str(b.get("state"))
        wait = f"retry in {b['retry_after']:.1f} s" if state == "open" and b.get("retry_after") \
            else ""
        rows.append([key, state, b.get("failures", 0), b.get("transitions", 0), wait])
    return ["Circuit breakers"] + _grid(["module", "state", "failures", "changes", ""], rows)


_REFUSALS = (("refused.policy", "not allowed by the policy"),
             ("refused.circuit_open", "circuit open"),
             ("refused.overloaded", "queue full"),
             ("refused.wait_timeout", "no worker free in time"))


def _refusals(router: dict) -> list[str]:
    counts = router.get("counts") or {}
    parts = [f"{label} {counts[key]}" for key, label in _REFUSALS if counts.get(key)]
    extra = [f"{label} {counts[key]}" for key, label in (
        ("timeouts", "timeouts"), ("crashes", "worker crashes"),
        ("agents.crashes", "agent crashes mid-call"),
        ("protocol_errors", "protocol errors"), ("recycled", "workers recycled"))
        if counts.get(key)]
    out = []
    if parts:
        out.append("Refused calls: " + ", ".join(parts))
    if extra:
        out.append("Faults: " + ", ".join(extra))
    return out


def _rate_waits(router: dict) -> list[str]:
    waits = ((router.get("metrics") or {}).get("rate_waits")) or {}
    rows = []
    for module, w in sorted(waits.items()):
        count, seconds = w.get("waits", 0), float(w.get("seconds") or 0)
        rows.append([module, count, duration(1000 * seconds / count) if count else "-",
                     duration(1000 * seconds)])
    if not rows:
        return []
    # the total adds up the waits of calls that waited side by side: a mean tells more
    return ["Rate-limit waits"] + _grid(["module", "waits", "mean wait", "summed"], rows)


def _steps(router: dict) -> list[str]:
    steps = ((router.get("metrics") or {}).get("workflow_steps")) or []
    rows = [[s.get("workflow"), s.get("kind"), s.get("outcome"), s.get("count", 0),
             duration(1000 * float(s.get("seconds") or 0))]
            for s in sorted(steps, key=lambda s: (str(s.get("workflow")), str(s.get("kind")),
                                                   str(s.get("outcome"))))]
    if not rows:
        return []
    return ["Workflow steps"] + _grid(["workflow", "kind", "outcome", "count", "time"], rows)


def _agents(router: dict) -> list[str]:
    """The summary line (the live router's, else one from the metrics) and per method
    calls, failures and mean latency."""
    agents = ((router.get("metrics") or {}).get("agents")) or {}
    by_status = {k: v for k, v in (agents.get("by_status") or {}).items() if v}
    calls = agents.get("calls") or []
    summary = _agent_summary(router)
    if summary is None and not by_status and not calls:
        return []
    if summary is None:
        restarts = sum(int(n) for n in (agents.get("restarts") or {}).values())
        summary = ("Agents: " + (", ".join(f"{n} {status}"
                                           for status, n in sorted(by_status.items()))
                                 or "none now") + f", {_plural(restarts, 'restart')}")
    out = [summary]
    totals: dict[tuple[str, str], list[float]] = {}
    for c in calls:
        t = totals.setdefault((str(c.get("agent")), str(c.get("method"))), [0, 0, 0.0])
        n = int(c.get("count") or 0)
        t[0] += n
        t[1] += 0 if c.get("outcome") == "ok" else n
        t[2] += float(c.get("seconds") or 0)
    rows = [[f"{agent}.{method}", n, bad, duration(1000 * seconds / n) if n else "-"]
            for (agent, method), (n, bad, seconds) in sorted(totals.items())]
    if rows:
        out += _grid(["method", "calls", "failed", "mean"], rows)
    return out


def _processes(host: dict, supervisor: dict) -> list[str]:
    counts = host.get("counts") or {}
    escalated = supervisor.get("escalated")
    return [f"Processes: router restarted {_plural(int(counts.get('router_restarts', 0)), 'time')}"
            f", memory store restarted "
            f"{_plural(int(counts.get('store_restarts', 0)), 'time')}; root supervisor "
            + (f"gave up: {escalated}" if escalated else "running")]


_REQUESTS = {"run_file": "run the program", "eval": "evaluate", "call_python": "Python calls "
             "from the host", "stats": "read statistics", "at_line_start": "check the output's "
             "last line", "metrics": "read metrics"}


def _requests(host: dict) -> list[str]:
    lat = host.get("latency_ms") or {}
    rows = [[_REQUESTS.get(name, name), s.get("n", 0), duration(s.get("p50")),
             duration(s.get("max"))] for name, s in sorted(lat.items())
            if name in ("run_file", "eval", "call_python")]
    if not rows:
        return []
    return ["Requests to the router"] + _grid(["request", "count", "p50", "max"], rows)

