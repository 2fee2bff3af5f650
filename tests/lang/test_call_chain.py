"""Call chains stay readable and small, however deep the recursion that failed."""

from __future__ import annotations

import pytest

from zixir.lang.errors import Frame, ZixirRuntimeError
from zixir.lang.session import CHAIN_HEAD, CHAIN_TAIL, Session, trim_chain


def test_runaway_recursion_collapses_to_one_frame_and_a_marker():
    with pytest.raises(ZixirRuntimeError) as info:
        Session().eval("fn f(n) { f(n + 1) }\nf(0)")
    chain = info.value.call_chain
    assert [f.function for f in chain[:2]] == ["<top level>", "f"]
    assert chain[2].line == 0 and "repeated" in chain[2].function
    assert len(chain) <= 4


def test_mutual_recursion_keeps_head_and_tail():
    with pytest.raises(ZixirRuntimeError) as info:
        Session().eval("fn f(n) { g(n) }\nfn g(n) { f(n + 1) }\nf(0)")
    chain = info.value.call_chain
    assert len(chain) == CHAIN_HEAD + CHAIN_TAIL + 1
    assert chain[CHAIN_HEAD].line == 0 and "more calls" in chain[CHAIN_HEAD].function
    assert chain[-1].function in ("f", "g")


def test_short_chains_are_kept_exactly():
    frames = [Frame("a", 1, 1), Frame("b", 2, 1), Frame("b", 2, 1), Frame("c", 3, 4)]
    assert trim_chain(frames) == frames


def test_long_runs_collapse_with_their_count():
    frames = [Frame("top", 1, 1)] + [Frame("r", 2, 3)] * 100
    trimmed = trim_chain(frames)
    assert trimmed[:2] == frames[:2]
    assert trimmed[2] == Frame("... the call above repeated 99 more times ...", 0, 0)
