"""The `zixir` command: run, check, fmt, repl, lsp, debug, workflow, dashboard.

Exit status: 0 success, 1 runtime error (or `check` found errors), 2 syntax or usage error,
3 a workflow is waiting for an approval.
Errors print as `FILE:LINE:COL: error: MESSAGE`, the source line and a caret.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from typing import Any

from .lang.diagnostics import Diagnostic, format_diagnostic, format_error
from .lang.errors import OutputClosed, WorkflowWaiting, ZixirError, ZixirSyntaxError
from .lang.values import to_literal, to_python

EXIT_OK, EXIT_RUNTIME, EXIT_USAGE, EXIT_WAITING = 0, 1, 2, 3
CONFIG_HELP = ("settings file (default: zixir.toml in the script's directory or its parents); "
               "command-line options win over it")
CLUSTER_HELP = ("run the Python workers on a Ray cluster: auto, ray://HOST:PORT (Ray client) or "
                "HOST:PORT (its GCS address); needs pip install 'zixir[ray]'")
EXIT_CLOSED_OUTPUT = 141  # as a tool killed by SIGPIPE (`zixir run f.zx | head -2`)
STDIN_NAME = "<stdin>"


def exit_on_closed_output() -> int:
    """The reader of standard output went away: stop quietly, as other tools do."""
    from .lang.builtins import silence_stdout

    silence_stdout()
    return EXIT_CLOSED_OUTPUT


def _source_of(path: str | None) -> str | None:
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError):
        return None


def report_error(error: ZixirError, filename: str | None, source: str | None = None) -> int:
    """Print a ZixirError the CLI way; return the exit status it calls for."""
    if error.filename and filename and os.path.abspath(filename) == error.filename:
        error.filename = filename  # as the user wrote it, as `zixir check` shows it
    shown_file = error.filename or filename
    if error.filename and error.filename != filename:
        source = _source_of(error.filename)
    elif source is None:
        source = _source_of(shown_file)
    if error.line is None:
        print(f"{shown_file or '<input>'}: error: {error.message}", file=sys.stderr)
    else:
        print(format_error(error, source, shown_file), file=sys.stderr)
    from .project_file import ProjectFileError

    return EXIT_USAGE if isinstance(error, ZixirSyntaxError | ProjectFileError) else EXIT_RUNTIME


def _json_default(value: Any) -> Any:
    return repr(value)


def json_safe(value: Any) -> Any:
    """`value` with the floats JSON cannot hold written as the strings "NaN", "Infinity" and
    "-Infinity" (what `--json` prints; JSON has no literal for them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if value != value else "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    return value


def print_result(value: Any, as_json: bool, at_line_start: bool = True) -> None:
    if as_json:
        text = json.dumps(json_safe(to_python(value)), default=_json_default, allow_nan=False)
    elif value is None:
        return
    else:
        text = to_literal(value)
    if not at_line_start:
        text = "\n" + text
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _unreadable(path: str) -> str | None:
    """Why `path` cannot be a program to run or check, or None if it can."""
    if os.path.isdir(path):
        return f"{path} is a directory, not a Zixir file"
    if not os.path.exists(path):
        return f"no such file: {path}"
    if not os.access(path, os.R_OK):
        return f"cannot read {path}: permission denied"
    return None


def cmd_run(args: argparse.Namespace) -> int:
    path, source = args.file, None
    if path == "-":  # the program on standard input
        path, source = STDIN_NAME, sys.stdin.read()
    else:
        problem = _unreadable(path)
        if problem:
            print(f"zixir: error: {problem}", file=sys.stderr)
            return EXIT_USAGE
    if args.memory and os.path.isdir(args.memory):
        print(f"zixir: error: --memory needs a file path (the store is one SQLite file), but "
              f"{args.memory} is a directory", file=sys.stderr)
        return EXIT_USAGE
    from .runtime_bridge import run_file_for_cli

    try:
        value, at_line_start = run_file_for_cli(
            path, workers=args.workers, timeout=args.timeout, allow=args.allow,
            allow_all=args.allow_all, stats=args.stats, memory=args.memory,
            dashboard=args.dashboard, quiet=args.quiet, log_json=args.log_json,
            metrics_port=args.metrics_port, config=args.config, args=args.args, source=source,
            cluster=args.cluster)
    except WorkflowWaiting as waiting:
        sys.stdout.flush()
        print(f"zixir: {waiting.message}", file=sys.stderr)
        return EXIT_WAITING
    except OutputClosed:
        return exit_on_closed_output()
    except ZixirError as error:
        sys.stdout.flush()
        return report_error(error, path, source)
    except KeyboardInterrupt:
        print("\nzixir: interrupted", file=sys.stderr)
        return 130
    print_result(value, args.json, at_line_start)
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from . import project_file
    from .lang.checker import check

    status = EXIT_OK
    if args.cluster is not None:  # the cluster `zixir run --cluster` would use: reachable?
        from .runtime.cluster import parse_address, probe

        try:
            probe(parse_address(args.cluster))
        except ZixirError as error:
            status = report_error(error, None)
    checked: set[str] = set()
    for path in args.files:
        stdin = path == "-"
        # the zixir.toml `zixir run` would use for this file, checked once
        start = os.getcwd() if stdin else os.path.dirname(os.path.abspath(path))
        where = args.config or project_file.find(start)
        if where and os.path.abspath(where) not in checked:
            checked.add(os.path.abspath(where))
            try:
                project_file.for_script(None if stdin else path, args.config)
            except project_file.ProjectFileError as error:
                status = max(status, report_error(error, where))
        if stdin:
            source, path = sys.stdin.read(), STDIN_NAME
        else:
            problem = _unreadable(path)
            source = None if problem else _source_of(path)
            if source is None:
                print(f"zixir: error: {problem or f'cannot read {path}'}", file=sys.stderr)
                status = max(status, EXIT_USAGE)
                continue
        diagnostics: list[Diagnostic] = check(source, path)
        for diag in diagnostics:
            print(format_diagnostic(diag, source, path), file=sys.stderr)
            if diag.severity == "error":
                status = max(status, EXIT_USAGE if diag.source == "syntax" else EXIT_RUNTIME)
        if not diagnostics and not args.quiet:
            print(f"{path}: ok")
    return status


def cmd_fmt(args: argparse.Namespace) -> int:
    """Rewrite files in the canonical layout; `--check` only lists those that would change."""
    from .lang.formatter import format_source

    status = EXIT_OK
    for path in args.files:
        problem = None if path == "-" else _unreadable(path)
        source = None if problem else sys.stdin.read() if path == "-" else _source_of(path)
        if source is None:  # said as `run` and `check` say it
            print(f"zixir: error: {problem or f'cannot read {path}'}", file=sys.stderr)
            status = EXIT_USAGE
            continue
        shown = "<stdin>" if path == "-" else path
        try:
            formatted = format_source(source, shown)
        except ZixirSyntaxError as error:
            print(format_diagnostic(Diagnostic.from_error(error), source, shown), file=sys.stderr)
            status = EXIT_USAGE
            continue
        if args.check:
            if formatted != source:
                print(shown)
                status = max(status, EXIT_RUNTIME)
        elif path == "-":
            sys.stdout.write(formatted)
        elif formatted != source:
            with open(path, "w", encoding="utf-8", newline="") as handle:
                handle.write(formatted)
    return status


def cmd_repl(args: argparse.Namespace) -> int:
    from .project_file import ProjectFileError
    from .repl import run_repl

    try:
        return run_repl(workers=args.workers, memory=args.memory, timeout=args.timeout,
                        log_json=args.log_json, config=args.config, cluster=args.cluster)
    except ProjectFileError as error:
        return report_error(error, error.filename)
    except ZixirError as error:  # the runtime cannot start (an unreachable --cluster)
        return report_error(error, None)


#: transports a language client may ask for; the server speaks only stdio
_OTHER_TRANSPORTS = ("socket", "port", "pipe", "node_ipc")


def cmd_lsp(args: argparse.Namespace) -> int:
    for name in _OTHER_TRANSPORTS:
        if getattr(args, name) is not None:
            flag = "--" + name.replace("_", "-")
            print(f"zixir lsp: error: only stdio is supported ({flag} was given); "
                  "start the server with --stdio", file=sys.stderr)
            return EXIT_USAGE
    from .lsp.server import main as lsp_main

    return lsp_main(client_process_id=args.client_process_id)


def cmd_debug(args: argparse.Namespace) -> int:
    from .debug.server import main as debug_main

    return debug_main()


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, got {port}")
    return port
def cmd_kernel(args: argparse.Namespace) -> int:
    """`zixir kernel install`: make "Zixir" a Jupyter kernel (ipykernel must be installed)."""
    try:
        from .jupyter import install
    except ImportError as e:  # pragma: no cover - the import itself needs nothing optional
        print(f"zixir: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    try:
        where = install(user=args.prefix is None, prefix=args.prefix)
    except ImportError:
        print("zixir: error: the Jupyter kernel needs ipykernel and jupyter_client "
              "(pip install 'zixir[jupyter]')", file=sys.stderr)
        return EXIT_USAGE
    print(f"installed the Zixir kernel in {where}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zixir", description="Run and check Zixir programs.")
    parser.add_argument("--version", action="version", version="zixir 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run a program and print its value")
    run.add_argument("file", help="the program (- reads it from standard input)")
    run.add_argument("args", nargs="*", metavar="ARG",
                     help="arguments for the program, its args() (after -- they may start "
                          "with -)")
    run.add_argument("--workers", type=int, default=None, help="Python worker processes")
    run.add_argument("--timeout", type=float, default=None, help="Python call timeout (s)")
    run.add_argument("--json", action="store_true", help="print the value as JSON")
    run.add_argument("--allow", action="append", default=[], metavar="NAME",
                     help="allow a Python module or module.function beyond the default "
                          "allow list (repeatable)")
    run.add_argument("--allow-all", action="store_true",
                     help="allow every Python call (trusted scripts only)")
    run.add_argument("--stats", action="store_true",
                     help="print runtime statistics to stderr at the end")
    run.add_argument("-q", "--quiet", action="store_true",
                     help="no progress bars (they are drawn only when stderr is a terminal)")
    run.add_argument("--log-json", action="store_true",
                     help="runtime events as JSON lines on stderr even on a terminal")
    run.add_argument("--metrics-port", type=_port, default=None, metavar="N",
                     help="serve Prometheus metrics at http://127.0.0.1:N/metrics while the "
                          "program runs (0: any free port; the URL is printed)")
    run.add_argument("--memory", metavar="PATH", default=None,
                     help="the memory store's file, or a postgresql:// URL (default: "
                          "$ZIXIR_MEMORY or "
                          "~/.local/share/zixir/memory.sqlite3)")
    run.add_argument("--config", metavar="FILE", default=None, help=CONFIG_HELP)
    run.add_argument("--cluster", metavar="ADDRESS", default=None, help=CLUSTER_HELP)
    run.add_argument("--dashboard", nargs="?", const=0, type=int, default=None,
                     metavar="PORT", help="serve the live web dashboard on 127.0.0.1 while the "
                                          "program runs (default port: a free one); its URL, "
                                          "with its access token, is printed to stderr")
    run.set_defaults(handler=cmd_run)

    check = sub.add_parser("check", help="report syntax and static errors without running")
    check.add_argument("files", nargs="+")
    check.add_argument("-q", "--quiet", action="store_true", help="print only problems")
    check.add_argument("--config", metavar="FILE", default=None,
                       help="the zixir.toml to validate (default: the nearest to each file)")
    check.add_argument("--cluster", metavar="ADDRESS", default=None,
                       help="also check that this Ray cluster can be reached (as for run)")
    check.set_defaults(handler=cmd_check)

    fmt = sub.add_parser("fmt", help="rewrite files in the canonical layout")
    fmt.add_argument("files", nargs="+", metavar="FILE", help="files to format; - for stdin")
    fmt.add_argument("--check", action="store_true",
                     help="change nothing; list the files that would change and exit 1")
    fmt.set_defaults(handler=cmd_fmt)

    repl = sub.add_parser("repl", help="interactive session")
    repl.add_argument("--workers", type=int, default=None)
    repl.add_argument("--memory", metavar="PATH", default=None,
                      help="the memory store's file or postgresql:// URL")
    repl.add_argument("--config", metavar="FILE", default=None,
                      help="settings file (default: zixir.toml in the current directory or "
                           "its parents)")
    repl.add_argument("--timeout", type=float, default=None, help="Python call timeout (s)")
    repl.add_argument("--log-json", action="store_true",
                      help="runtime events as JSON lines on stderr even on a terminal")
    repl.add_argument("--cluster", metavar="ADDRESS", default=None, help=CLUSTER_HELP)
    repl.set_defaults(handler=cmd_repl)

    lsp = sub.add_parser("lsp", help="language server on stdio")
    lsp.add_argument("--stdio", action="store_true",
                     help="talk over stdin/stdout (the default, and the only transport)")
    lsp.add_argument("--clientProcessId", dest="client_process_id", type=int, metavar="PID",
                     default=None, help="exit when the process PID (the editor) ends")
    for name in _OTHER_TRANSPORTS:  # accepted here only to be refused with a clear message
        lsp.add_argument("--" + name.replace("_", "-"), nargs="?", const="", default=None,
                         help=argparse.SUPPRESS)
    lsp.set_defaults(handler=cmd_lsp)

    kernel = sub.add_parser("kernel", help="the Jupyter kernel")
    kernel.add_argument("action", choices=["install"], help="install the kernel spec")
    kernel.add_argument("--prefix", default=None,
                        help="install under this prefix (e.g. sys.prefix) instead of for the user")
    kernel.set_defaults(handler=cmd_kernel)

    debug = sub.add_parser("debug", help="debug adapter (Debug Adapter Protocol) on stdio")
    debug.set_defaults(handler=cmd_debug)

    from .workflow.cli import add_workflow_command

    add_workflow_command(sub)
    from .dashboard.cli import add_dashboard_command

    add_dashboard_command(sub)
    return parser


def _dashboard_without_port(argv: list[str]) -> list[str]:
    """`--dashboard script.zx` means a free port: argparse would take the script for the
    optional PORT, so a bare `--dashboard` not followed by a number becomes `--dashboard=0`."""
    out = []
    for index, arg in enumerate(argv):
        following = argv[index + 1] if index + 1 < len(argv) else ""
        if arg == "--dashboard" and not following.isdigit():
            arg = "--dashboard=0"
        out.append(arg)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = _dashboard_without_port(list(sys.argv[1:] if argv is None else argv))
    if argv and argv[0] == "run":
        # the program's own arguments may come before or after zixir's options
        run_parser = parser._subparsers._group_actions[0].choices["run"]  # type: ignore[union-attr]
        args, unknown = run_parser.parse_known_intermixed_args(argv[1:])
        if unknown:
            dashed = " ".join(a for a in unknown if a.startswith("-")) or " ".join(unknown)
            run_parser.error(f"unrecognized arguments: {dashed} (the program's arguments "
                             f"that start with '-' go after '--': zixir run FILE -- ARG ...)")
    else:
        args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    return args.handler(args)


def entry() -> None:
    try:
        status = main()
    except BrokenPipeError:
        status = exit_on_closed_output()
    sys.exit(status)
