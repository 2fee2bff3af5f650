"""Durable workflows (WORKLOADS.md section 4): runs and steps whose results live in the
memory store, so that re-running a program resumes it where it stopped.

    storage.py   key layout in the store; the KeyValue interface and its implementations
    records.py   run and step records and their state transitions (pure)
    engine.py    Engine and Run: run, step, map (checkpoint per element), dag, approval
    admin.py     list / show / approve / reject / reset, and their tables (CLI, rt.workflows)

The language surface (`workflow.run(...)` etc.) is `zixir.lang.workflows`.
"""
