"""The Zixir language server (`zixir lsp`), on pygls.

    server.py           protocol wiring: lifecycle, document sync, one handler per feature
    transport.py        stdio, and ending the process whenever the client goes away
    analysis.py         one document analysed: parse, the checker's names/types/diagnostics
    features.py         completion, hover, definition, references, outline, signature help
    rename.py           rename that keeps every name's meaning, or refuses
    formatting.py       whole-document and range formatting with the editor's indentation
    semantic.py         semantic tokens (what each word is, for colours)
    hints.py            inlay hints: inferred types of lets and parameters
    actions.py          quick fixes for undefined names (similar name, missing import)
    structure.py        folding ranges and links on import paths
    workspace_index.py  the workspace's .zx files and their top-level names
    positions.py        language positions (1-based characters) <-> protocol positions (UTF-16)
    registry.py         built-ins, engine ops, keywords, namespaces, read from the language
"""
