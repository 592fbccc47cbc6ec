"""Does the data-only format round-trip plain data and refuse everything else, whatever bytes
a hostile worker sends (deep JSON, huge or lying .npy headers, pickles, truncations)?"""

from __future__ import annotations

import io
import json
import os
import struct

import numpy as np
import pytest

from autograder import wire


def _round_trip(value):
    w = wire.Writer()
    desc = w.value(value)
    doc, blobs = wire.unpack(wire.pack(desc, w.blobs))
    return wire.Reader(blobs).value(doc)


def test_values_round_trip():
    value = (np.arange(6, dtype=np.float32).reshape(2, 3), 3, 2.5, True, None, "same",
             [np.int64(4), (1, 2)], {"stride": (2, 1), "bias": np.ones(3)}, float("nan"))
    back = _round_trip(value)
    assert type(back) is tuple and len(back) == len(value)
    np.testing.assert_array_equal(back[0], value[0])
    assert back[0].dtype == np.float32
    assert back[1:6] == (3, 2.5, True, None, "same")
    assert back[6][0] == 4 and back[6][1] == (1, 2)
    assert back[7]["stride"] == (2, 1)
    np.testing.assert_array_equal(back[7]["bias"], np.ones(3))
    assert np.isnan(back[8])


def test_array_shapes_and_dtypes_survive():
    arrays = [np.asarray(3), np.asarray(2.5, np.float32), np.zeros((0, 3)), np.ones((2, 3)).T,
              np.array([True, False]), np.arange(4, dtype=np.uint8),
              np.arange(6, dtype=">f8").reshape(2, 3), np.ones(2, np.complex64)]
    for a in arrays:
        back = _round_trip(a)
        assert back.shape == a.shape and back.dtype == a.dtype.newbyteorder("=")
        np.testing.assert_array_equal(back, a)


@pytest.mark.parametrize("bad", [np.array([object()]), np.array(["text"]), {1: 2}, {1, 2},
                                 type("Tensorish", (), {})(),
                                 np.zeros(2, dtype=[("a", "f4"), ("b", "i4")])])
def test_writer_refuses_non_data(bad):
    with pytest.raises(wire.WireError):
        wire.Writer().value(bad)


def _npy(header: str, body: bytes = b"", major: int = 1) -> bytes:
    raw = header.encode("latin1")
    size = struct.pack("<H", len(raw)) if major == 1 else struct.pack("<I", len(raw))
    return b"\x93NUMPY" + bytes([major, 0]) + size + raw + body


@pytest.mark.parametrize("data, says", [
    (b"not an npy file", "magic"),
    (_npy("{'descr': '|O', 'fortran_order': False, 'shape': (1,)}", b"\0" * 8), "numbers only"),
    (_npy("{'descr': '<U4', 'fortran_order': False, 'shape': (1,)}", b"\0" * 16),
     "numbers only"),
    (_npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}", b"\0" * 4),
     "not plain"),
    # a huge declared shape: refused from the header, nothing allocated
    (_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1099511627776, 1099511627776)}"),
     "declares"),
    (_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (4,)}", b"\0" * 8), "declares"),
    (_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (-1,)}", b"\0" * 8), "sizes"),
    # a header that claims to be gigabytes long, and one that is a deep literal
    (b"\x93NUMPY\x02\x00" + struct.pack("<I", 0xFFFFFFF0), "too long"),
    (_npy("(" * 3000 + ")" * 3000), "too long"),
    (_npy("[" * 900 + "]" * 900), "not a plain literal|unexpected keys"),
    (_npy("__import__('os')"), "not a plain literal"),
    (_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1,)}", b"\0" * 8, major=9),
     "version"),
])
def test_npy_parser_refuses_hostile_arrays(data, says):
    with pytest.raises(wire.WireError, match=says):
        wire.parse_npy(data)


def test_pickled_arrays_are_refused():
    buf = io.BytesIO()
    np.save(buf, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(wire.WireError, match="numbers only"):
        wire.parse_npy(buf.getvalue())


@pytest.mark.parametrize("desc", [
    {"array": "../a0.npy"}, {"array": "/etc/passwd"}, {"array": 3}, {"array": "a9.npy"},
    {"scalar": [1]}, {"scalar": {"a": 1}}, {"tuple": {"a": 1}}, {"object": 1},
    {"array": "a0.npy", "x": 1}, [1],
])
def test_reader_refuses_malformed_descriptors(desc):
    blobs = {"a0.npy": wire.npy_bytes(np.zeros(2))}
    with pytest.raises(wire.WireError):
        wire.Reader(blobs).value(desc)


def test_reader_caps_the_array_bytes():
    blobs = {"a0.npy": wire.npy_bytes(np.zeros(1000))}
    with pytest.raises(wire.WireError, match="over the limit"):
        wire.Reader(blobs, max_array_bytes=100).value({"array": "a0.npy"})


def test_framing_refuses_truncation_trailing_bytes_and_bad_names():
    good = wire.pack({"x": 1}, {"a0.npy": wire.npy_bytes(np.ones(2))})
    assert wire.unpack(good)[0] == {"x": 1}
    for broken in (good[:-1], good + b"x", b"XXXX" + good[4:], good[:10]):
        with pytest.raises(wire.WireError):
            wire.unpack(broken)
    bad_name = wire.pack({}, {"../x": b""})
    with pytest.raises(wire.WireError, match="name"):
        wire.unpack(bad_name)
    # a length field claiming more than there is
    lying = wire.MAGIC + struct.pack("<Q", 1 << 60)
    with pytest.raises(wire.WireError):
        wire.unpack(lying)


@pytest.mark.parametrize("text", [b"[" * 100000 + b"]" * 100000,
                                  b'{"a":' * 50000 + b"1" + b"}" * 50000])
def test_deep_json_is_refused_without_recursion(text):
    with pytest.raises(wire.WireError, match="deeper"):
        wire.parse_json(text)


def test_json_constants_and_size_are_refused():
    with pytest.raises(wire.WireError):
        wire.parse_json(b'{"attempts": NaN}')
    with pytest.raises(wire.WireError, match="larger"):
        wire.parse_json(b'"' + b"x" * 100 + b'"', max_bytes=50)


def _result(**changes):
    fields = {"attempts": [(np.ones((2, 2), np.float32),), "raised ValueError: x"],
              "forbidden_used": ["torch.Tensor.unfold"],
              "cell_errors": [{"cell": "your cell 'a'", "error": "raised NameError: b"}],
              "error": None}
    fields.update(changes)
    return fields


def test_result_and_report_round_trip_and_strict_keys():
    result = wire.unpack_result(wire.pack_result(**_result()))
    assert result["attempts"][1] == "raised ValueError: x"
    np.testing.assert_array_equal(result["attempts"][0][0], np.ones((2, 2)))
    assert result["forbidden_used"] == ["torch.Tensor.unfold"]
    report = wire.unpack_report(wire.pack_report(status="ok", detail="", exit_code=0,
                                                 signal=None, result=result))
    assert report["status"] == "ok" and report["result"]["cell_errors"] == result["cell_errors"]
    np.testing.assert_array_equal(report["result"]["attempts"][0][0], np.ones((2, 2)))
    doc, blobs = wire.unpack(wire.pack_result(**_result()))
    for broken in ({**doc, "extra": 1}, {**doc, "attempts": [{"outputs": [{"scalar": 1}]}]},
                   {**doc, "forbidden_used": [1]}, {**doc, "error": 5},
                   {**doc, "attempts": "x"}, {**doc, "cell_errors": [{"cell": 1}]}):
        with pytest.raises(wire.WireError):
            wire.unpack_result(wire.pack(broken, blobs))
    for broken_report in ({"status": "won", "detail": "", "exit_code": 0, "signal": None,
                           "result": None},
                          {"status": "ok", "detail": "", "exit_code": 0.5, "signal": None,
                           "result": None},
                          {"status": "ok", "detail": "", "exit_code": 0, "signal": None}):
        with pytest.raises(wire.WireError):
            wire.unpack_report(wire.pack(broken_report, {}))


def test_long_texts_are_cut():
    result = wire.unpack_result(wire.pack_result(**_result(error="x" * 100000)))
    assert len(result["error"]) == wire.MAX_TEXT


def test_job_round_trip():
    cases = [((np.ones(3, np.float32), 2), {"padding": 1})]
    job = wire.unpack_job(wire.pack_job(cells=[{"id": "c", "source": "x = 1", "student": True}],
                                        module="m", exercise="e", cases=cases, device="cpu"))
    assert job["module"] == "m" and job["exercise"] == "e" and job["cells"][0]["student"]
    (args, kwargs), = job["cases"]
    np.testing.assert_array_equal(args[0], np.ones(3))
    assert args[1] == 2
    assert kwargs == {"padding": 1}


def test_read_regular_refuses_fifos_links_and_large_files(tmp_path):
    fifo = tmp_path / "report.json"
    os.mkfifo(fifo)
    with pytest.raises(wire.WireError, match="not a regular file"):
        wire.read_regular(fifo, 1000)  # returns at once: opened without blocking
    target = tmp_path / "t.json"
    target.write_text(json.dumps({"a": 1}))
    link = tmp_path / "l.json"
    link.symlink_to(target)
    with pytest.raises(wire.WireError, match="plain file"):
        wire.read_regular(link, 1000)
    with pytest.raises(wire.WireError, match="larger"):
        wire.read_regular(target, 3)
    assert wire.read_regular(target, 1000) == target.read_bytes()
