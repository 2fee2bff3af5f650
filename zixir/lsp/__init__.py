"""The Zixir language server (`zixir lsp`), on pygls.

    server.py     protocol wiring: document sync, one handler per feature, stdio entry `main()`
    analysis.py   one document analysed: parse, the checker's names/types/diagnostics, members
    features.py   completion, hover, definition, references, outline, rename (plain data)
    positions.py  language positions (1-based characters) <-> protocol positions (UTF-16)
    registry.py   built-ins, engine ops, keywords and memory members, read from the language
"""
