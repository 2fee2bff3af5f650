"""The Python worker process: serves library calls over msgpack-RPC frames.

    router (pool.py)                          worker (worker.py)
    ----------------                          ------------------
    request pipe  --[0, id, "call", [module, function, args, kwargs, options]]-->
                  <--[1, id, error | None, result]--------------------------  response pipe
    stdout / stderr of the worker are the host's own (inherited), never the protocol.

Workers are forked from a template process (forkserver.py) that has already imported this
package and the preloaded libraries (numpy), so a replacement serves within milliseconds.
`python -m python_workers` starts a worker directly (the fallback when no template runs).
"""
