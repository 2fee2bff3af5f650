"""Start time of a big program: lex, parse, check, compile, and `zixir run` / `zixir check`.

A generator writes a realistic program of about 5,000 lines (`--lines`): many functions using
the whole language (maps, lists, interpolated strings, `for`/`while` loops, `match` with
guards, pipes and lambdas, `try`/`rescue`, `if`/`else` chains), and a `main` that calls every
one of them once, so running it costs little beyond starting. The benchmark then measures, in
this process, each phase on its own (lex, parse, check, compile to bytecode) and, as
subprocesses, `zixir run` and `zixir check` of the file and of `examples/hello.zx` (the small
program that must not get slower). Rounds are interleaved (one of each per round) so a busy
machine slows all alike; the table gives the median and best of wall and CPU time (CPU of a
subprocess is its user + system time, children included).

    python benchmarks/startup_big.py [--lines 5000] [--rounds 5] [--write FILE] [--profile PHASE]

`--write FILE` only writes the generated program; `--profile lex|parse|check|compile` prints
the top of a cProfile of one phase instead of timing.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

HERE = os.path.dirname(os.path.abspath(__file__))
HELLO = os.path.join(HERE, os.pardir, "examples", "hello.zx")

# ---- the generated program ----------------------------------------------------------------
# Each template is one function named by its index `{i}`; together they cover the syntax a
# real program mixes. Every function returns a value `main` folds into a checksum.

TEMPLATES = [
    # maps built in a loop, interpolation, get/put
    '''# counts words of a sentence and reports the most frequent one
fn word_stats_{i}(text) {{
  let counts = {{}}
  for word in split(lower(text)) {{
    counts = put(counts, word, get(counts, word, 0) + 1)
  }}
  let best = nil
  for word in keys(counts) {{
    if best == nil or counts[word] > counts[best] {{
      best = word
    }}
  }}
  let summary = "#{{len(keys(counts))}} distinct, top #{{best}} x#{{counts[best]}}"
  {{"summary": summary, "distinct": len(keys(counts)), "top": best}}
}}
''',
    # pipes and lambdas
    '''fn pipeline_{i}(n) {{
  let base = range(1, n + {k})
  let evens = base |> filter(x => x % 2 == 0) |> map(x => x * x)
  let odds = base |> filter(x => x % 2 == 1) |> map(x => x + {k})
  let total = reduce(evens, (acc, x) => acc + x, 0) + sum(odds)
  let label = join(map(take(evens, 3), str), ", ")
  "pipeline {i}: [#{{label}}] total=#{{total}}"
}}
''',
    # match with list/map patterns and guards
    '''fn classify_{i}(value) {{
  match value {{
    nil => "nothing",
    [] => "empty list",
    [only] => "one: #{{only}}",
    [first, second, ...rest] => "list #{{first}}, #{{second}} and #{{len(rest)}} more",
    {{"kind": "point", "x": x, "y": y}} if x == y => "diagonal point #{{x}}",
    {{"kind": "point", "x": x, "y": y}} => "point (#{{x}}, #{{y}})",
    {{"name": name}} => "named #{{name}}",
    n if type_of(n) == "int" and n < {k} => "small #{{n}}",
    n if type_of(n) == "int" => "large #{{n}}",
    _ => "other: #{{value}}",
  }}
}}
''',
    # while loop with arithmetic, if/else chain
    '''fn collatz_{i}(start) {{
  let n = start + {k}
  let steps = 0
  let peak = n
  while n != 1 {{
    if n % 2 == 0 {{
      n = div(n, 2)
    }} else {{
      n = 3 * n + 1
    }}
    if n > peak {{
      peak = n
    }}
    steps += 1
  }}
  let grade = if steps > 100 {{
    "long"
  }} else if steps > 20 {{
    "medium"
  }} else {{
    "short"
  }}
  {{"start": start, "steps": steps, "peak": peak, "grade": grade}}
}}
''',
    # list building, comprehension-free loops, sort with key, string formatting
    '''fn inventory_{i}() {{
  let items = [
    {{"name": "apple", "price": 1.25, "qty": {k}}},
    {{"name": "pear", "price": 0.75, "qty": 3}},
    {{"name": "plum", "price": 2.5, "qty": 1}},
    {{"name": "fig", "price": 3.0, "qty": 4}},
  ]
  let lines = []
  let total = 0.0
  for item in sort(items, it => it.price) {{
    let cost = item.price * item.qty
    total = total + cost
    lines = append(lines, "#{{item.name}}: #{{item.qty}} x #{{format(item.price, ".2f")}}")
  }}
  {{"lines": lines, "total": round(total, 2), "count": len(lines)}}
}}
''',
    # try/rescue and raise
    '''fn safe_ratio_{i}(a, b) {{
  try {{
    if b == 0 {{
      raise("Ratio", "divide #{{a}} by zero")
    }}
    a / b
  }} rescue e if e.type == "Ratio" {{
    -1
  }}
}}
''',
    # nested closures, recursion
    '''fn make_counter_{i}(start) {{
  let n = start
  {{
    "next": () => {{ n += {k}; n }},
    "peek": () => n,
  }}
}}

fn fib_{i}(n) {{
  if n < 2 {{
    n
  }} else {{
    fib_{i}(n - 1) + fib_{i}(n - 2)
  }}
}}
''',
    # string processing
    '''fn title_case_{i}(s) {{
  let words = split(s)
  let fixed = map(words, w => upper(w[0]) + slice(w, 1))
  let joined = join(fixed, " ")
  let letters = split(lower(joined), "") |> filter(c => c != " ") |> uniq() |> sort()
  "#{{joined}} (#{{len(letters)}} letters, #{{joined.length}} chars)"
}}
''',
    # a grid walk with for over ranges and zip
    '''fn grid_{i}(w, h) {{
  let cells = []
  for y in 0..h {{
    for x in 0..w {{
      if (x + y) % {m} == 0 {{
        continue
      }}
      cells = append(cells, [x, y])
    }}
  }}
  let pairs = zip(cells, range(0, len(cells)))
  let firsts = flat_map(take(pairs, 4), p => p[0])
  {{"cells": len(cells), "firsts": firsts, "groups": group_by(cells, c => c[0] % 3) |> keys()}}
}}
''',
]

CALLS = [
    'word_stats_{i}("the quick brown fox jumps over the lazy dog and the fox")',
    "pipeline_{i}({k})",
    'classify_{i}({{"kind": "point", "x": {k}, "y": {k}}})',
    "collatz_{i}({k})",
    "inventory_{i}()",
    "safe_ratio_{i}({k}, {m})",
    "fib_{i}(8) + make_counter_{i}({k}).next()",
    'title_case_{i}("a tale of {k} cities")',
    "grid_{i}(4, 3)",
]


def generate(lines: int) -> str:
    """A program of about `lines` lines: functions from TEMPLATES and a `main` calling all."""
    parts = ["# generated by benchmarks/startup_big.py: a big program to measure start time\n"]
    calls: list[str] = []
    count, i = 1, 0
    while count + len(calls) < lines - 6:
        which = i % len(TEMPLATES)
        k, m = i % 7 + 2, i % 5 + 2
        text = TEMPLATES[which].format(i=i, k=k, m=m) + "\n"
        parts.append(text)
        calls.append(CALLS[which].format(i=i, k=k, m=m))
        count += text.count("\n")
        i += 1
    parts.append("fn main() {\n  let results = []\n")
    parts.extend(f"  results = append(results, {call})\n" for call in calls)
    parts.append('  let text = str(results)\n  "#{len(results)} results, checksum #{len(text)}"\n}\n')
    return "".join(parts)


# ---- measuring --------------------------------------------------------------------------------

def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def phases(source: str, path: str) -> dict[str, Callable[[], object]]:
    from zixir.lang.checker import check
    from zixir.lang.compiler import compile_program
    from zixir.lang.lexer import tokenize
    from zixir.lang.parser import parse
    from zixir.lang.session import Session

    program = parse(source, path)
    state = Session().state

    return {
        "lex": lambda: tokenize(source, path),
        "parse": lambda: parse(source, path),
        "check": lambda: check(source, path),
        "compile": lambda: compile_program(program, state, path),
    }


def run_cli(argv: list[str]) -> tuple[float, float]:
    before_wall, before_cpu = time.perf_counter(), children_cpu()
    done = subprocess.run([sys.executable, "-m", "zixir", *argv], capture_output=True, text=True)
    wall, used = time.perf_counter() - before_wall, children_cpu() - before_cpu
    if done.returncode != 0:
        raise SystemExit(f"zixir {' '.join(argv)} failed ({done.returncode}):\n{done.stderr}")
    return wall, used


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--write", metavar="FILE", help="only write the generated program")
    parser.add_argument("--profile", choices=["lex", "parse", "check", "compile"])
    parser.add_argument("--no-cli", action="store_true", help="skip the subprocess rows")
    options = parser.parse_args()

    source = generate(options.lines)
    if options.write:
        with open(options.write, "w", encoding="utf-8") as out:
            out.write(source)
        print(f"wrote {options.write}: {source.count(chr(10))} lines")
        return

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "big.zx")
        with open(path, "w", encoding="utf-8") as out:
            out.write(source)
        steps = phases(source, path)
        if options.profile:
            profiler = cProfile.Profile()
            profiler.runcall(steps[options.profile])
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
            return

        rows: dict[str, list[tuple[float, float]]] = {}
        for _ in range(options.rounds):
            for name, step in steps.items():
                before_wall, before_cpu = time.perf_counter(), cpu()
                step()
                rows.setdefault(name, []).append((time.perf_counter() - before_wall,
                                                  cpu() - before_cpu))
            if not options.no_cli:
                rows.setdefault("zixir run big", []).append(run_cli(["run", path]))
                rows.setdefault("zixir check big", []).append(run_cli(["check", "-q", path]))
                rows.setdefault("zixir run hello", []).append(run_cli(["run", HELLO]))

    print(f"program: {source.count(chr(10))} lines, {len(source)} characters; "
          f"{options.rounds} interleaved rounds; seconds")
    print(f"{'':18} {'wall median':>12} {'wall best':>10} {'cpu median':>11} {'cpu best':>9}")
    for name, samples in rows.items():
        walls, cpus = [w for w, _ in samples], [c for _, c in samples]
        print(f"{name:18} {statistics.median(walls):12.3f} {min(walls):10.3f} "
              f"{statistics.median(cpus):11.3f} {min(cpus):9.3f}")


if __name__ == "__main__":
    main()
