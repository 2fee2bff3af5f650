"""`zixir workflow list | show | approve | reject | reset`: the stored runs of a memory store.

The store is opened directly (`--memory PATH` or a `postgresql://` URL, else `memory_path` of
zixir.toml, else `$ZIXIR_MEMORY`, else the default of `zixir run`): no runtime is started, and
a program running on the same store meanwhile is fine (the database serialises the writers).
"""

from __future__ import annotations

import argparse
import os
import sys

EXIT_OK, EXIT_RUNTIME, EXIT_USAGE = 0, 1, 2


def add_workflow_command(sub: argparse._SubParsersAction) -> None:
    workflow = sub.add_parser("workflow", help="list, show, approve, reject or reset "
                                               "durable workflow runs")
    actions = workflow.add_subparsers(dest="action", metavar="ACTION")

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        parser = actions.add_parser(name, help=help_text)
        parser.add_argument("--memory", metavar="PATH", default=None,
                            help="the memory store's file or postgresql:// URL (default: "
                                 "memory_path of zixir.toml, "
                                 "$ZIXIR_MEMORY or ~/.local/share/zixir/memory.sqlite3)")
        parser.add_argument("--config", metavar="FILE", default=None,
                            help="settings file (default: zixir.toml in the current directory "
                                 "or its parents)")
        parser.set_defaults(handler=cmd_workflow, workflow_action=name)
        return parser

    action("list", "every stored run: name, key, status, steps done, started, updated")
    show = action("show", "one run and its steps")
    show.add_argument("name", help="the workflow's name")
    show.add_argument("key", nargs="?", default="default", help="the run key (default: default)")
    for name, verb in (("approve", "approve"), ("reject", "reject")):
        decide = action(name, f"{verb} a pending approval step")
        decide.add_argument("name", help="the workflow's name")
        decide.add_argument("step", help="the approval step's name")
        decide.add_argument("--note", default="", help="the reviewer's note")
        decide.add_argument("--key", default="default", help="the run key (default: default)")
    reset = action("reset", "forget a run (every run of NAME without KEY)")
    reset.add_argument("name", help="the workflow's name")
    reset.add_argument("key", nargs="?", default=None, help="one run key (default: every run)")
    workflow.set_defaults(handler=_usage(workflow))


def _usage(parser: argparse.ArgumentParser):
    def handler(args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return EXIT_USAGE

    return handler


def cmd_workflow(args: argparse.Namespace) -> int:
    from zixir.lang.errors import ZixirError
    from zixir.project_file import ProjectFileError, for_script
    from zixir.runtime.memory import is_url
    from zixir.runtime_bridge import default_memory_path

    from .admin import Workflows, format_run, format_runs
    from .storage import StoreKeyValue

    try:
        found = for_script(None, args.config)  # the memory_path of zixir.toml, if it sets one
    except ProjectFileError as error:
        from zixir.cli import report_error

        return report_error(error, error.filename)
    path = args.memory or (found.options.get("memory_path") if found else None) \
        or default_memory_path()
    if not is_url(path) and not os.path.isfile(path):
        if args.workflow_action == "list":
            print("no workflow runs (no memory store at " + path + ")")
            return EXIT_OK
        print(f"zixir: error: no memory store at {path}", file=sys.stderr)
        return EXIT_RUNTIME
    try:
        kv = StoreKeyValue(path)
    except ZixirError as error:  # an unreachable database
        print(f"zixir: error: {error.message}", file=sys.stderr)
        return EXIT_RUNTIME
    try:
        workflows = Workflows(kv)
        act = args.workflow_action
        if act == "list":
            print(format_runs(workflows.list()))
        elif act == "show":
            print(format_run(workflows.show(args.name, args.key)))
        elif act in ("approve", "reject"):
            decide = workflows.approve if act == "approve" else workflows.reject
            decide(args.name, args.step, args.note, args.key)
            done = "approved" if act == "approve" else "rejected"
            print(f"step {args.step} of workflow {args.name} {done}; run the program again "
                  f"to continue")
        else:
            count = workflows.reset(args.name, args.key)
            what = args.name if args.key is None else f"{args.name} (key {args.key})"
            print(f"reset {what}: {count} run{'s' if count != 1 else ''} forgotten")
    except ZixirError as error:
        print(f"zixir: error: {error.message}", file=sys.stderr)
        return EXIT_RUNTIME
    finally:
        kv.close()
    return EXIT_OK
