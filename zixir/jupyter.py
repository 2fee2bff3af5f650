"""Zixir in Jupyter: a kernel (`zixir kernel install`, then pick "Zixir" in a notebook) and an
IPython cell magic (`%load_ext zixir.jupyter`, then `%%zixir` cells in a Python notebook).

    notebook --execute_request--> ZixirKernel (ipykernel) --eval--> Session (in this process)
                                        |                              | python / memory calls
                                        |                              v
             stream / execute_result / error <-- printed text    Runtime (started on first use)

The interpreter runs in the kernel process so that `print` goes to the cell's output while the
cell runs (a `CellStream` in place of sys.stdout sends it as stream messages, gathered for at
most `CellStream.INTERVAL`); Python calls and `memory.*` go to a supervised runtime started the
first time a cell needs one. Bindings persist from cell to cell, as in the REPL.
"""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile
import threading
from collections.abc import Callable
from typing import Any

from . import __version__
from .lang.diagnostics import format_error
from .lang.errors import ZixirError
from .lang.values import to_literal, to_python

KERNEL_NAME = "zixir"
LANGUAGE_INFO = {
    "name": "zixir",
    "version": __version__,
    "mimetype": "text/x-zixir",
    "file_extension": ".zx",
    "pygments_lexer": "text",
    "codemirror_mode": "text/plain",
}


class LazyServices:
    """The interpreter's services, from a runtime started the first time one is used."""

    def __init__(self) -> None:
        self._services: Any = None

    def _get(self) -> Any:
        if self._services is None:
            from .runtime import Runtime
            from .runtime.runtime import HostServices

            self._services = HostServices(Runtime())
        return self._services

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)

    def close(self) -> None:
        if self._services is not None:
            self._services.runtime.close()
            self._services = None


class CellStream(io.TextIOBase):
    """The standard output of a running cell. Text written (from any thread) reaches the
    notebook within `INTERVAL` seconds as a stream message, so a cell that prints as it goes
    shows its lines as it goes; a loop printing thousands of lines sends a few messages a
    second, not one per line. `close()` sends the rest."""

    INTERVAL = 0.05

    def __init__(self, send: Callable[[str], None]) -> None:
        super().__init__()
        self._send = send
        self._parts: list[str] = []
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            self._parts.append(text)
            if self._timer is None:
                self._timer = threading.Timer(self.INTERVAL, self._send_pending)
                self._timer.daemon = True
                self._timer.start()
        return len(text)

    def flush(self) -> None:
        pass  # the timer sends what was written: print's flush after every line must not

    def _send_pending(self) -> None:
        with self._lock:  # sending under the lock keeps the messages in order
            self._timer = None
            text, self._parts = "".join(self._parts), []
            if text:
                self._send(text)

    def close(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
        self._send_pending()
        super().close()


class CellSession:
    """A Zixir session whose inputs are notebook cells: evaluation, completion and the
    text of errors, shared by the kernel and the cell magic."""

    def __init__(self) -> None:
        from .lang.session import Session

        self.services = LazyServices()
        self.session = Session(services=self.services)
        self.count = 0
        self.sources: dict[str, str] = {}  # by cell name: an error may be in an earlier cell

    def run(self, code: str) -> tuple[Any, ZixirError | None, str]:
        """(value, error, cell name) of evaluating `code`; the value is a Zixir value."""
        self.count += 1
        name = f"<cell {self.count}>"
        self.sources[name] = code
        try:
            return self.session.eval_value(code, name), None, name
        except ZixirError as error:
            if error.filename is None:
                error.filename = name
            return None, error, name

    def completions(self, code: str, cursor: int) -> tuple[list[str], int]:
        """Names that complete the identifier before `cursor`, and where it starts."""
        from .lang.completion import complete

        return complete(code, cursor, self.session.names())

    def error_text(self, error: ZixirError, code: str, name: str) -> str:
        """The error as `zixir run` shows it, with the line of the cell it happened in (a
        function defined in an earlier cell fails there)."""
        return format_error(error, self.sources.get(error.filename or name, code), name)

    def close(self) -> None:
        self.services.close()


# ---- the kernel --------------------------------------------------------------------------------

def _kernel_class() -> type:
    from ipykernel.kernelbase import Kernel

    class ZixirKernel(Kernel):
        implementation = "zixir"
        implementation_version = __version__
        language = "zixir"
        language_version = __version__
        language_info = LANGUAGE_INFO
        banner = f"Zixir {__version__}: bindings persist between cells"

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.cells = CellSession()

        def do_execute(self, code: str, silent: bool, store_history: bool = True,
                       user_expressions: dict | None = None, allow_stdin: bool = False,
                       **_: Any) -> dict:
            # the program runs on the interpreter's own thread: its output goes to this
            # cell's parent message explicitly, while the cell runs
            parent = self.get_parent("shell")

            def send(text: str) -> None:
                if not silent:
                    self.session.send(self.iopub_socket, "stream",
                                      {"name": "stdout", "text": text}, parent,
                                      ident=self._topic("stream"))

            printed = CellStream(send)
            saved, sys.stdout = sys.stdout, printed
            try:
                value, error, name = self.cells.run(code)
            except KeyboardInterrupt:
                value, error, name = None, KeyboardInterrupt(), ""
            finally:
                sys.stdout = saved
                printed.close()
            if isinstance(error, KeyboardInterrupt):
                self._stream("stderr", "interrupted\n")
                return self._error("KeyboardInterrupt", "interrupted", ["interrupted"])
            if error is not None:
                text = self.cells.error_text(error, code, name)
                if not silent:
                    self._stream("stderr", text + "\n")
                return self._error(type(error).__name__, error.message, text.splitlines())
            if value is not None and not silent:
                data = {"text/plain": to_literal(value)}
                try:
                    data["application/json"] = json.loads(json.dumps(to_python(value)))
                except (TypeError, ValueError):
                    pass
                self.send_response(self.iopub_socket, "execute_result", {
                    "execution_count": self.execution_count, "data": data, "metadata": {}})
            return {"status": "ok", "execution_count": self.execution_count, "payload": [],
                    "user_expressions": {}}

        def _stream(self, name: str, text: str) -> None:
            self.send_response(self.iopub_socket, "stream", {"name": name, "text": text})

        def _error(self, ename: str, evalue: str, traceback: list[str]) -> dict:
            content = {"ename": ename, "evalue": evalue, "traceback": traceback}
            self.send_response(self.iopub_socket, "error", content)
            return {"status": "error", "execution_count": self.execution_count, **content}

        def do_complete(self, code: str, cursor_pos: int) -> dict:
            matches, start = self.cells.completions(code, cursor_pos)
            return {"status": "ok", "matches": matches, "cursor_start": start,
                    "cursor_end": cursor_pos, "metadata": {}}

        def do_is_complete(self, code: str) -> dict:
            from .repl import needs_more

            return {"status": "incomplete" if needs_more(code) else "complete", "indent": ""}

        def do_shutdown(self, restart: bool) -> dict:
            self.cells.close()
            return {"status": "ok", "restart": restart}

    return ZixirKernel


def main() -> None:
    """`python -m zixir.jupyter -f CONNECTION_FILE`: what Jupyter starts for the kernel."""
    from ipykernel.kernelapp import IPKernelApp

    IPKernelApp.launch_instance(kernel_class=_kernel_class())


def install(user: bool = True, prefix: str | None = None) -> str:
    """Install the kernel spec ("Zixir") for Jupyter; the directory it was installed to."""
    from jupyter_client.kernelspec import KernelSpecManager

    spec = {"argv": [sys.executable, "-m", "zixir.jupyter", "-f", "{connection_file}"],
            "display_name": "Zixir", "language": "zixir", "interrupt_mode": "signal"}
    with tempfile.TemporaryDirectory() as work:
        with open(os.path.join(work, "kernel.json"), "w", encoding="utf-8") as f:
            json.dump(spec, f, indent=2)
        return KernelSpecManager().install_kernel_spec(work, KERNEL_NAME, user=user and not prefix,
                                                       prefix=prefix)


# ---- the IPython cell magic ----------------------------------------------------------------------

_MAGIC_SESSION: CellSession | None = None


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext zixir.jupyter`: `%%zixir` runs the cell as Zixir (one session for all
    cells); the value is the cell's result. An error fails the cell (a notebook run stops
    there) and is shown the way `zixir run` shows it, without a Python traceback: IPython
    shows what an exception's `_render_traceback_` returns instead."""

    def zixir(line: str, cell: str) -> Any:
        global _MAGIC_SESSION
        if _MAGIC_SESSION is None:
            _MAGIC_SESSION = CellSession()
        value, error, name = _MAGIC_SESSION.run(cell)
        if error is not None:
            lines = _MAGIC_SESSION.error_text(error, cell, name).splitlines()
            error._render_traceback_ = lambda: lines  # type: ignore[attr-defined]
            raise error.with_traceback(None)
        return to_python(value)

    ipython.register_magic_function(zixir, magic_kind="cell", magic_name="zixir")


if __name__ == "__main__":
    main()
