"""A Debug Adapter Protocol client for tests: spawns the real `zixir debug` and speaks DAP
over its pipes. Every wait has a deadline (generous: the machine may be loaded)."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from typing import Any

from zixir.debug.framing import Decoder, encode

DEADLINE = 60.0


class DapError(AssertionError):
    pass


class DapClient:
    def __init__(self, cwd: str | None = None) -> None:
        env = dict(os.environ)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "zixir", "debug"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd, env=env,
            start_new_session=True)
        self._seq = 0
        self._messages: queue.Queue = queue.Queue()
        self.events: list[dict] = []  # every event seen so far, in order
        self._pending: list[dict] = []  # messages read but not yet consumed
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        decoder = Decoder()
        fd = self.proc.stdout.fileno()
        while True:
            data = os.read(fd, 65536)
            if not data:
                self._messages.put(None)
                return
            for message in decoder.feed(data):
                self._messages.put(message)

    def _next(self, deadline: float) -> dict | None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DapError("timed out waiting for the debug adapter")
        try:
            message = self._messages.get(timeout=remaining)
        except queue.Empty:
            raise DapError("timed out waiting for the debug adapter") from None
        if message is not None and message.get("type") == "event":
            self.events.append(message)
        return message

    def send(self, command: str, arguments: dict | None = None) -> int:
        self._seq += 1
        message: dict[str, Any] = {"seq": self._seq, "type": "request", "command": command}
        if arguments is not None:
            message["arguments"] = arguments
        self.proc.stdin.write(encode(message))
        self.proc.stdin.flush()
        return self._seq

    def _take(self, match, timeout: float) -> dict:
        for i, message in enumerate(self._pending):
            if match(message):
                return self._pending.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            message = self._next(deadline)
            if message is None:
                raise DapError("the debug adapter closed its output; stderr: "
                               + self.stderr_text())
            if match(message):
                return message
            self._pending.append(message)

    def response(self, seq: int, timeout: float = DEADLINE) -> dict:
        return self._take(lambda m: m.get("type") == "response" and m.get("request_seq") == seq,
                          timeout)

    def request(self, command: str, arguments: dict | None = None,
                timeout: float = DEADLINE) -> dict:
        """Send a request; its response (which must succeed) body."""
        response = self.response(self.send(command, arguments), timeout)
        if not response["success"]:
            raise DapError(f"{command} failed: {response.get('message')}")
        return response.get("body") or {}

    def failing(self, command: str, arguments: dict | None = None) -> dict:
        """Send a request that must fail; its response."""
        response = self.response(self.send(command, arguments))
        assert not response["success"], response
        return response

    def event(self, name: str, timeout: float = DEADLINE, **fields: Any) -> dict:
        def match(m: dict) -> bool:
            if m.get("type") != "event" or m.get("event") != name:
                return False
            body = m.get("body") or {}
            return all(body.get(k) == v for k, v in fields.items())
        return self._take(match, timeout).get("body") or {}

    def wait_output(self, text: str, timeout: float = DEADLINE) -> None:
        """Wait until the program's output (all categories so far) contains `text`."""
        deadline = time.monotonic() + timeout
        while text not in self.output():
            self.event("output", max(0.0, deadline - time.monotonic()))

    def output(self, category: str | None = None) -> str:
        return "".join(e["body"]["output"] for e in self.events if e["event"] == "output"
                       and (category is None or e["body"]["category"] == category))

    # ---- conveniences --------------------------------------------------------------------

    def start(self, program: str, breakpoints: dict[str, list] | None = None,
              stop_on_entry: bool = False, exceptions: list[str] | None = None,
              **launch: Any) -> dict:
        """initialize, launch, breakpoints, configurationDone; the initialize body."""
        caps = self.request("initialize", {"adapterID": "zixir", "linesStartAt1": True,
                                           "columnsStartAt1": True, "pathFormat": "path"})
        self.event("initialized")
        self.request("launch", {"program": program, "stopOnEntry": stop_on_entry, **launch})
        self.verified = {}
        for path, specs in (breakpoints or {}).items():
            specs = [s if isinstance(s, dict) else {"line": s} for s in specs]
            body = self.request("setBreakpoints", {"source": {"path": path},
                                                   "breakpoints": specs})
            self.verified[path] = body["breakpoints"]
        if exceptions is not None:
            self.request("setExceptionBreakpoints", {"filters": exceptions})
        self.request("configurationDone")
        return caps

    def stopped(self, reason: str | None = None, timeout: float = DEADLINE) -> dict:
        body = self.event("stopped", timeout)
        if reason is not None:
            assert body["reason"] == reason, body
        return body

    def frames(self) -> list[dict]:
        return self.request("stackTrace", {"threadId": 1})["stackFrames"]

    def top(self) -> tuple[str, int]:
        frame = self.frames()[0]
        return frame["name"], frame["line"]

    def scope(self, frame_id: int, name: str = "Locals") -> dict[str, dict]:
        scopes = self.request("scopes", {"frameId": frame_id})["scopes"]
        ref = next(s["variablesReference"] for s in scopes if s["name"] == name)
        return self.children(ref)

    def children(self, ref: int, **paging: Any) -> dict[str, dict]:
        body = self.request("variables", {"variablesReference": ref, **paging})
        return {v["name"]: v for v in body["variables"]}

    def evaluate(self, expression: str, frame_id: int | None = None,
                 context: str = "watch") -> dict:
        args: dict[str, Any] = {"expression": expression, "context": context}
        if frame_id is not None:
            args["frameId"] = frame_id
        return self.request("evaluate", args)

    def step(self, command: str) -> dict:
        self.request(command, {"threadId": 1})
        return self.stopped()

    def finish(self, timeout: float = DEADLINE) -> int:
        """Wait for the program's end; its exit code."""
        code = self.event("exited", timeout)["exitCode"]
        self.event("terminated", timeout)
        return code

    def close(self) -> int:
        """disconnect, then the adapter's exit status (it must exit by itself)."""
        if self.proc.poll() is None:
            try:
                self.request("disconnect", {"terminateDebuggee": True})
            except (DapError, OSError):
                pass
        try:
            return self.proc.wait(timeout=DEADLINE)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            # the reader ends at end of file; its descriptor must not be closed (and reused
            # by another test's pipe) while it still reads
            self._reader.join(DEADLINE)
            for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                try:
                    stream.close()
                except OSError:
                    pass

    def stderr_text(self) -> str:
        if self.proc.poll() is None:
            return "(still running)"
        return self.proc.stderr.read().decode(errors="replace")
