"""The sans-IO codec, on plain byte strings: split, concatenated, truncated, oversized, garbage."""

from __future__ import annotations

import array
import glob
import os

import msgpack
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from zixir.lang.errors import (
    CircuitOpen,
    Frame,
    PythonError,
    RouterCrashed,
    WorkerCrashed,
    ZixirRuntimeError,
    ZixirSyntaxError,
)
from zixir.runtime import protocol as p
from zixir.runtime.shm import ShmArena, ShmArrays, sweep

CODEC = p.Codec(max_frame=1 << 16)


def frames(*messages):
    return b"".join(CODEC.encode(m) for m in messages)


def test_round_trip_of_each_message_kind():
    msgs = [p.Request(1, "call", ["math", "sqrt", [16.0], {}, {}]),
            p.Response(1, None, 4.0),
            p.Response(2, {"type": "ValueError", "message": "x"}, None),
            p.Notification("ready", [123])]
    assert p.FrameDecoder(CODEC).feed(frames(*msgs)) == msgs


def test_split_frames_byte_by_byte():
    msgs = [p.Request(i, "call", ["m", "f", [i, "x" * i], {"k": i}, {}]) for i in range(5)]
    data = frames(*msgs)
    dec = p.FrameDecoder(CODEC)
    out = []
    for i in range(len(data)):
        out += dec.feed(data[i:i + 1])
    assert out == msgs
    assert dec.pending_bytes == 0


@given(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=20))
def test_arbitrary_chunking(cuts):
    msgs = [p.Response(i, None, {"v": list(range(i))}) for i in range(8)]
    data = frames(*msgs)
    dec = p.FrameDecoder(CODEC)
    out, pos, k = [], 0, 0
    while pos < len(data):
        n = cuts[k % len(cuts)]
        out += dec.feed(data[pos:pos + n])
        pos += n
        k += 1
    assert out == msgs


def test_truncated_frame_waits_for_the_rest():
    data = CODEC.encode(p.Response(7, None, "hello"))
    dec = p.FrameDecoder(CODEC)
    assert dec.feed(data[:-1]) == []
    assert dec.pending_bytes == len(data) - 1
    assert dec.feed(data[-1:]) == [p.Response(7, None, "hello")]


def test_oversized_frame_is_refused_from_its_header():
    dec = p.FrameDecoder(CODEC)
    with pytest.raises(p.FrameError, match="frame limit"):
        dec.feed((1 << 20).to_bytes(4, "big") + b"\x00")
    with pytest.raises(p.FrameError):  # the decoder stays poisoned
        dec.feed(CODEC.encode(p.Response(1, None, 1)))


def test_encoder_refuses_frames_over_the_limit():
    with pytest.raises(p.FrameTooLarge):
        CODEC.encode(p.Response(1, None, "x" * (1 << 17)))


@pytest.mark.parametrize("body", [
    b"\xc1",  # never-used msgpack byte
    msgpack.packb({"not": "an array"}),
    msgpack.packb([9, 1, "m", []]),  # unknown kind
    msgpack.packb([0, "id", "m", []]),  # id not an int
    msgpack.packb([1, 1, "error must be a map", None]),
    msgpack.packb([0, 1, "m"]),  # wrong arity
    msgpack.packb([1, 1, None, msgpack.ExtType(99, b"")]),  # unknown ext
    msgpack.packb([1, 1, None, msgpack.ExtType(p.EXT_ARRAY, b"\x00\x00\x00\x05abc")]),
])
def test_garbage_bodies_are_frame_errors(body):
    with pytest.raises(p.FrameError):
        p.FrameDecoder(CODEC).feed(len(body).to_bytes(4, "big") + body)


def test_random_garbage_never_escapes_as_another_exception():
    rng = np.random.default_rng(1)
    for _ in range(300):
        junk = rng.integers(0, 256, rng.integers(1, 64), dtype=np.uint8).tobytes()
        dec = p.FrameDecoder(CODEC)
        try:
            dec.feed(junk)
        except p.FrameError:
            pass


def test_array_ext_cannot_smuggle_object_dtype():
    header = msgpack.packb(["|O", [1]])
    ext = msgpack.ExtType(p.EXT_ARRAY, len(header).to_bytes(4, "big") + header + b"\x00" * 8)
    body = msgpack.packb([1, 1, None, ext])
    with pytest.raises(p.FrameError, match="dtype"):
        p.FrameDecoder(CODEC).feed(len(body).to_bytes(4, "big") + body)


def test_no_pickle_on_the_wire():
    class Evil:
        def __reduce__(self):
            return (os.system, ("true",))

    with pytest.raises(p.UnencodableValue, match="Evil"):
        CODEC.encode(p.Response(1, None, Evil()))
    with pytest.raises(p.UnencodableValue, match="object"):
        CODEC.encode(p.Response(1, None, [object()]))


def test_sets_decimals_and_string_arrays_travel_as_plain_values():
    import decimal

    for value, expected in [({3, 1, 2}, [1, 2, 3]), (frozenset({"b", "a"}), ["a", "b"]),
                            (decimal.Decimal("2.5"), 2.5),
                            (np.array(["a", "bc"]), ["a", "bc"]),
                            (np.array([["a"], ["b"]]), [["a"], ["b"]])]:
        (decoded,) = p.FrameDecoder(CODEC).feed(CODEC.encode(p.Response(1, None, value)))
        assert decoded.result == expected, value
    (reply,) = p.FrameDecoder(CODEC).feed(CODEC.encode(p.Response(1, None, {1, "a"})))
    mixed = reply.result
    assert sorted(mixed, key=str) == [1, "a"]


def test_functions_travel_by_id_when_the_codecs_agree():
    kept = {}

    def export(fn):
        kept[7] = fn
        return 7, "double"

    router = p.Codec(opaque=True, export_function=export)
    host = p.Codec(opaque=True, import_function=lambda fn_id, name: (fn_id, name))
    frame = router.encode(p.Response(1, None, [lambda x: x * 2]))
    (reply,) = p.FrameDecoder(host).feed(frame)
    assert reply.result == [(7, "double")]
    assert kept[7](2) == 4
    (plain,) = p.FrameDecoder(p.Codec(opaque=True)).feed(frame)
    assert isinstance(plain.result[0], p.Opaque)


def test_numpy_arrays_travel_as_ext_not_lists():
    arr = np.arange(12, dtype=np.float64).reshape(3, 4)
    body = CODEC.encode_body(p.Response(1, None, arr))
    raw = msgpack.unpackb(body, raw=False)  # without the hook: the ext type is visible
    assert isinstance(raw[3], msgpack.ExtType) and raw[3].code == p.EXT_ARRAY
    (back,) = p.FrameDecoder(CODEC).feed(len(body).to_bytes(4, "big") + body)
    assert isinstance(back.result, np.ndarray) and back.result.dtype == np.float64
    np.testing.assert_array_equal(back.result, arr)
    back.result[0, 0] = 5.0  # decoded arrays are writable


@pytest.mark.parametrize("value", [np.arange(5, dtype=np.int32), np.array([1 + 2j]),
                                   np.array([True, False]), np.zeros((0, 3)),
                                   np.arange(6.0)[::2]])
def test_array_dtypes_and_layouts(value):
    (back,) = p.FrameDecoder(CODEC).feed(CODEC.encode(p.Response(1, None, value)))
    assert back.result.dtype == value.dtype and back.result.shape == value.shape
    np.testing.assert_array_equal(back.result, value)


def test_scalars_tuples_bigints_and_array_module():
    value = [np.float32(2.5), np.int64(3), (1, 2), 2**100, -(2**70), array.array("d", [1.5])]
    (back,) = p.FrameDecoder(CODEC).feed(CODEC.encode(p.Response(1, None, value)))
    assert back.result[:5] == [2.5, 3, [1, 2], 2**100, -(2**70)]
    np.testing.assert_array_equal(back.result[5], [1.5])


def test_large_arrays_go_through_shared_memory():
    tag = "abc123"
    codec = p.Codec(max_frame=1 << 16, arrays=ShmArrays(tag, threshold=1024))
    arr = np.random.default_rng(0).random(100_000)
    frame = codec.encode(p.Request(1, "call", ["numpy", "sum", [arr], {}, {}]))
    assert len(frame) < 1000  # the 800 kB payload is not in the frame
    (msg,) = p.FrameDecoder(codec).feed(frame)
    np.testing.assert_array_equal(msg.params[2][0], arr)
    assert sweep(tag) == 0  # the receiver unlinked the file


def test_shared_memory_names_are_validated():
    codec = p.Codec(arrays=ShmArrays("abc", threshold=1))
    ext = msgpack.ExtType(p.EXT_SHM_ARRAY, msgpack.packb(["<f8", [1], "../../etc/passwd"]))
    body = msgpack.packb([1, 1, None, ext])
    with pytest.raises(p.FrameError, match="name"):
        p.FrameDecoder(codec).feed(len(body).to_bytes(4, "big") + body)


def test_errors_keep_class_and_fields_across_the_wire():
    err = ZixirRuntimeError("boom", 3, 7, filename="a.zx",
                            call_chain=(Frame("main", 1, 1), Frame("f", 3, 7)))
    back = p.error_from_wire(p.error_to_wire(err))
    assert type(back) is ZixirRuntimeError
    assert (back.message, back.line, back.column, back.filename) == ("boom", 3, 7, "a.zx")
    assert back.call_chain == err.call_chain and str(back) == str(err)
    for err in [WorkerCrashed("x", exitcode=None, signal=9), CircuitOpen("y", retry_after=2.5),
                RouterCrashed("z"), ZixirSyntaxError("Expected expression", 1, 4),
                PythonError("m", exc_type="KeyError", traceback="tb")]:
        back = p.error_from_wire(p.error_to_wire(err))
        assert type(back) is type(err) and back.__dict__ == err.__dict__


def test_python_exception_maps_become_python_errors():
    back = p.error_from_wire(p.error_to_wire(KeyError("k")), context="m.f")
    assert isinstance(back, PythonError) and back.exc_type == "KeyError"
    assert "m.f raised KeyError" in back.message


def test_arena_is_reused_grown_and_copied_out():
    tag = "a7e0a"
    sender = ShmArena(tag, threshold=1024, min_size=1 << 16)
    sending = p.Codec(arrays=sender)
    receiving = p.Codec(arrays=ShmArrays(tag, threshold=1024))
    try:
        small = np.arange(2000, dtype=np.float64)  # 16 kB: fits the first arena
        sender.begin()
        (first,) = p.FrameDecoder(receiving).feed(sending.encode(p.Response(1, None, [small,
                                                                                     small])))
        name = sender.name
        sender.begin()
        (second,) = p.FrameDecoder(receiving).feed(sending.encode(p.Response(2, None, small)))
        assert sender.name == name  # the same file serves the next message
        np.testing.assert_array_equal(first.result[0], small)
        np.testing.assert_array_equal(first.result[1], small)
        first.result[0][0] = 99.0  # the receiver owns a copy: the arena is not touched
        np.testing.assert_array_equal(second.result, small)
        big = np.arange(100_000, dtype=np.float64)  # 800 kB: the arena grows (a new file)
        sender.begin()
        (third,) = p.FrameDecoder(receiving).feed(sending.encode(p.Response(3, None,
                                                                           [small, big])))
        assert sender.name != name
        np.testing.assert_array_equal(third.result[1], big)
        sender.begin()  # the outgrown file is removed once its message was read
        assert len(glob.glob(f"/dev/shm/zixir-{tag}-*")) == 1
    finally:
        sender.close()
        receiving.arrays.close()
    assert sweep(tag) == 0  # closing the arena removed its file


def test_arena_offsets_are_checked():
    codec = p.Codec(arrays=ShmArrays("abc", threshold=1))
    sender = ShmArena("abc", threshold=1, min_size=4096)
    try:
        sender.export(memoryview(b"x" * 64))
        ext = msgpack.ExtType(p.EXT_SHM_ARRAY, msgpack.packb(["<f8", [1000], sender.name, 0]))
        body = msgpack.packb([1, 1, None, ext])
        with pytest.raises(p.FrameError, match="outside"):
            p.FrameDecoder(codec).feed(len(body).to_bytes(4, "big") + body)
    finally:
        sender.close()
