"""`zixir repl`: an interactive session.

Bindings persist between inputs. An input continues over several lines while it is incomplete
(an open bracket, an unterminated string, a `:` waiting for its block) and, once an indented
block has started, until an empty line. Errors are shown and the session goes on. History is
kept in `~/.zixir_history` (prompt_toolkit) when the terminal is interactive; piped input is
read line by line with the same rules, so the REPL can be scripted and tested.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

from .lang.diagnostics import format_error
from .lang.errors import ZixirError, ZixirSyntaxError
from .lang.parser import parse
from .lang.values import to_literal

PROMPT, CONTINUATION = "zx> ", "... "
HELP = """Enter Zixir expressions or statements; bindings persist between inputs.
Multi-line input continues while brackets are open or after a ':' block (end with an empty line).
Commands: :help, :quit (or Ctrl-D), :reset (forget all bindings)."""


def needs_more(text: str) -> bool:
    """Is `text` an unfinished input that another line could complete?"""
    lines = text.split("\n")
    opens_block = any(line.rstrip().endswith(":") for line in lines[:-1])
    if opens_block and lines[-1].strip() and lines[-1][:1] in (" ", "\t"):
        return True  # inside an indented block: wait for the empty line
    try:
        parse(text)
    except ZixirSyntaxError as err:
        return err.incomplete and bool(lines[-1].strip())
    return False


_CONTINUES = ("else", "rescue")


def may_continue(text: str) -> bool:
    """Could the next line still belong to `text`? A complete multi-line `if`/`try` whose
    last line closes a brace block may be followed by `else {` / `rescue e {` on a line of
    its own, a layout files accept (`}` then `else {`)."""
    lines = text.split("\n")
    if len(lines) < 2 or lines[-1].strip() != "}":
        return False
    words = text.split()
    return bool(words) and words[0] in ("if", "try", "let") and (
        "if" in words or "try" in words)


def read_inputs(read_line: Callable[[str], str]) -> Iterator[str]:
    """Complete inputs from a line reader (raises EOFError at the end, as input() does)."""
    pending: str | None = None  # a line read ahead that starts the next input
    while True:
        if pending is not None:
            buffer, pending = pending, None
        else:
            buffer = read_line(PROMPT)
        if not buffer.strip():
            continue
        while True:
            while needs_more(buffer):
                try:
                    line = read_line(CONTINUATION)
                except EOFError:
                    break
                if not line.strip() and not needs_more(buffer + "\n"):
                    break
                buffer += "\n" + line
            if not may_continue(buffer):
                break
            try:
                line = read_line(CONTINUATION)
            except EOFError:
                break
            if line.split()[:1] and line.split()[0] in _CONTINUES:
                buffer += "\n" + line
                continue
            if line.strip():
                pending = line
            break
        yield buffer


def _completer(names: Callable[[], list[str]]) -> Any:
    """Tab completion of built-ins, keywords and the session's names (prompt_toolkit)."""
    from prompt_toolkit.completion import Completer, Completion

    from .lang.completion import complete, word_start

    class NameCompleter(Completer):
        def get_completions(self, document: Any, complete_event: Any) -> Iterator[Any]:
            text, cursor = document.text, document.cursor_position
            if word_start(text, cursor) == cursor:
                return  # nothing typed yet: Tab indents
            try:
                bound = names()
            except ZixirError:
                bound = []  # the router is busy or restarting: built-ins and keywords only
            matches, start = complete(text, cursor, bound)
            for name in matches:
                yield Completion(name, start_position=start - cursor)

    return NameCompleter()


def _line_reader(names: Callable[[], list[str]] | None = None) -> Callable[[str], str]:
    if sys.stdin.isatty() and sys.stdout.isatty():
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import FileHistory

        history = os.path.join(os.path.expanduser("~"), ".zixir_history")
        session: PromptSession = PromptSession(
            history=FileHistory(history),
            completer=_completer(names) if names is not None else None,
            complete_while_typing=False)  # Tab completes, as in Python's REPL

        def read(prompt: str) -> str:
            return session.prompt(prompt)

        return read

    def read_plain(prompt: str) -> str:
        line = sys.stdin.readline()
        if not line:
            raise EOFError
        return line.rstrip("\n")

    return read_plain


def run_repl(workers: int | None = None, read_line: Callable[[str], str] | None = None,
             memory: str | None = None, timeout: float | None = None,
             log_json: bool = False, config: str | None = None,
             cluster: str | None = None) -> int:
    from .runtime_bridge import repl_session

    session = repl_session(workers, memory, timeout=timeout, log_json=log_json, config=config,
                           cluster=cluster)
    try:
        return _loop(session, read_line, workers)
    finally:
        session.close()


def _loop(session, read_line: Callable[[str], str] | None, workers: int | None) -> int:
    interactive = read_line is None and sys.stdin.isatty()
    if interactive:
        print("zixir repl: :help for help, Ctrl-D to quit")
    reader = read_line or _line_reader(getattr(session, "names", None))
    count = 0
    sources: dict[str, str] = {}  # by input name: an error may be in an earlier input
    inputs = read_inputs(reader)
    while True:
        try:
            text = next(inputs)
        except (EOFError, StopIteration):
            if interactive:
                print()
            return 0
        except KeyboardInterrupt:
            print("^C")
            inputs = read_inputs(reader)
            continue
        command = text.strip()
        if command in (":quit", ":q", ":exit"):
            return 0
        if command == ":help":
            print(HELP)
            continue
        if command == ":reset":
            session.reset()
            print("bindings cleared")
            continue
        count += 1
        name = f"<repl {count}>"
        sources[name] = text
        try:
            value = session.eval_value(text, name)
        except ZixirError as error:
            if error.filename is None:
                error.filename = name
            sys.stdout.flush()
            print(format_error(error, sources.get(error.filename, text), name),
                  file=sys.stderr)
            continue
        except KeyboardInterrupt:
            session.interrupt()
            print("interrupted", file=sys.stderr)
            continue
        at_line_start = getattr(session, "at_line_start", lambda: True)()
        if value is not None:
            print(("" if at_line_start else "\n") + to_literal(value))
        elif not at_line_start:
            print()  # `print("abc")`: the next prompt must not write over it
