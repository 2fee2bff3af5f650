"""`zixir debug`: a Debug Adapter Protocol server for Zixir programs.

    VS Code ("Run and Debug") --DAP over stdio--> server (framing) --> adapter (requests)
                                                                         |
                                                       engine: the program on a deep-stack
                                                       thread under sys.settrace; stops in
                                                       Zixir terms (lines, frames)
                                                         |                  |
                                           frames/lines: which frames,   variables: values
                                           lines and names are Zixir's   in literal syntax

Modules: `framing` (sans-IO Content-Length framing), `server` (stdio, output capture),
`adapter` (the requests), `engine` (tracing, breakpoints, steps, stops), `lines` (stop points
and breakpoint lines), `frames` (Zixir frames and variables), `variables` (values shown).
"""
