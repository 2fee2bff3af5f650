"""`python -m zixir ...` is the `zixir` command."""

from .cli import entry

entry()
