"""Does the data-only format round-trip plain data and refuse everything else?"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from autograder import wire


def test_values_round_trip(tmp_path):
    value = (np.arange(6, dtype=np.float32).reshape(2, 3), 3, 2.5, True, None, "same",
             [np.int64(4), (1, 2)], {"stride": (2, 1), "bias": np.ones(3)}, float("nan"))
    desc = wire.Writer(tmp_path).value(value)
    json.dumps(desc, allow_nan=False)  # descriptors are plain JSON
    back = wire.Reader(tmp_path).value(json.loads(json.dumps(desc)))
    assert type(back) is tuple and len(back) == len(value)
    np.testing.assert_array_equal(back[0], value[0])
    assert back[0].dtype == np.float32
    assert back[1:6] == (3, 2.5, True, None, "same")
    assert back[6][0] == 4 and back[6][1] == (1, 2)
    assert back[7]["stride"] == (2, 1)
    np.testing.assert_array_equal(back[7]["bias"], np.ones(3))
    assert np.isnan(back[8])


def test_array_shapes_and_dtypes_survive(tmp_path):
    arrays = [np.asarray(3), np.asarray(2.5, np.float32), np.zeros((0, 3)), np.ones((2, 3)).T,
              np.array([True, False]), np.arange(4, dtype=np.uint8)]
    w, r = wire.Writer(tmp_path), wire.Reader(tmp_path)
    for a in arrays:
        back = r.value(w.value(a))
        assert back.shape == a.shape and back.dtype == a.dtype
        np.testing.assert_array_equal(back, a)


@pytest.mark.parametrize("bad", [np.array([object()]), np.array(["text"]), {1: 2}, {1, 2},
                                 type("Tensorish", (), {})()])
def test_writer_refuses_non_data(tmp_path, bad):
    with pytest.raises(wire.WireError):
        wire.Writer(tmp_path).value(bad)


def test_reader_refuses_pickled_arrays(tmp_path):
    np.save(tmp_path / "a0.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(wire.WireError, match="not a plain .npy"):
        wire.Reader(tmp_path).value({"array": "a0.npy"})


@pytest.mark.parametrize("desc", [
    {"array": "../a0.npy"}, {"array": "/etc/passwd"}, {"array": 3}, {"scalar": [1]},
    {"scalar": {"a": 1}}, {"tuple": {"a": 1}}, {"object": 1}, {"array": "a0.npy", "x": 1}, [1],
])
def test_reader_refuses_malformed_descriptors(tmp_path, desc):
    np.save(tmp_path / "a0.npy", np.zeros(2), allow_pickle=False)
    with pytest.raises(wire.WireError):
        wire.Reader(tmp_path).value(desc)


def test_reader_refuses_links_and_oversized_arrays(tmp_path):
    np.save(tmp_path / "target.npy", np.zeros(4), allow_pickle=False)
    os.symlink(tmp_path / "target.npy", tmp_path / "a1.npy")
    with pytest.raises(wire.WireError):
        wire.Reader(tmp_path).value({"array": "a1.npy"})
    np.save(tmp_path / "a2.npy", np.zeros(1000), allow_pickle=False)
    with pytest.raises(wire.WireError, match="over the limit"):
        wire.Reader(tmp_path, max_array_bytes=100).value({"array": "a2.npy"})


def test_report_round_trip_and_strict_keys(tmp_path):
    wire.write_report(tmp_path, attempts=[(np.ones((2, 2), np.float32),), "raised ValueError: x"],
                      forbidden_used=["torch.Tensor.unfold"],
                      cell_errors=[{"cell": "your cell 'a'", "error": "raised NameError: b"}],
                      error=None)
    report = wire.read_report(tmp_path)
    assert report["attempts"][1] == "raised ValueError: x"
    np.testing.assert_array_equal(report["attempts"][0][0], np.ones((2, 2)))
    assert report["forbidden_used"] == ["torch.Tensor.unfold"]
    data = json.loads((tmp_path / "report.json").read_text())
    for broken in ({**data, "extra": 1}, {**data, "attempts": [{"outputs": [{"scalar": 1}]}]},
                   {**data, "forbidden_used": [1]}, {**data, "error": 5}):
        (tmp_path / "report.json").write_text(json.dumps(broken))
        with pytest.raises(wire.WireError):
            wire.read_report(tmp_path)
    (tmp_path / "report.json").write_text('{"attempts": NaN}')
    with pytest.raises(wire.WireError):
        wire.read_report(tmp_path)


def test_job_round_trip(tmp_path):
    cases = [((np.ones(3, np.float32), 2), {"padding": 1})]
    wire.write_job(tmp_path, cells=[{"id": "c", "source": "x = 1", "student": True}],
                   module="m", exercise="e", cases=cases, device="cpu")
    job = wire.read_job(tmp_path)
    assert job["module"] == "m" and job["exercise"] == "e" and job["cells"][0]["student"]
    (args, kwargs), = job["cases"]
    np.testing.assert_array_equal(args[0], np.ones(3))
    assert args[1] == 2
    assert kwargs == {"padding": 1}
