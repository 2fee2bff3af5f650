"""A stand-in interpreter for runtime tests: evaluates Python expressions with the services.

The router loads it through `session_factory="fakesession:FakeSession"`, so the runtime is
tested on its own, independent of the language. `python(m, f, *args, **kw)`, `memory`,
`pmap(f, xs)` and `fail(msg)` are in scope; names assigned with `let(name, value)` persist.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from zixir.lang.errors import Frame, ZixirRuntimeError


class FakeSession:
    def __init__(self, services=None, filename=None):
        self.services = services
        self.vars = {}

    def _scope(self):
        s = self.services

        def python(module, function, *args, **kwargs):
            return s.call_python(module, function, list(args), kwargs)

        def pmap(f, xs):
            with ThreadPoolExecutor(s.parallelism) as ex:
                return list(ex.map(f, xs))

        def let(name, value):
            self.vars[name] = value
            return value

        def fail(message):
            raise ZixirRuntimeError(message, 3, 7, filename="prog.zx",
                                    call_chain=(Frame("main", 1, 1), Frame("helper", 3, 7)))

        scope = {"python": python, "pmap": pmap, "let": let, "fail": fail,
                 "memory_put": s.memory_put, "memory_get": s.memory_get,
                 "memory_keys": s.memory_keys, "memory_delete": s.memory_delete,
                 "parallelism": s.parallelism}
        scope.update(self.vars)
        return scope

    def eval(self, source, filename=None):
        try:
            return eval(source, self._scope())
        except ZixirRuntimeError as e:
            raise e.at(1, 1, filename=filename) from None

    def run_file(self, path, call_main=True):
        with open(path) as f:
            return self.eval(f.read(), filename=path)
