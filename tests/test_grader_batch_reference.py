"""The reference side once per batch: chapter 1's training check graded by ``grade-batch`` with
the batch's shared reference file and without it gives identical results; the reference network
is trained once for a batch of several students (counted), with the thread executor and with
the Dask executor; a tampered, foreign or stale file is rejected and recomputed."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from autograder import batch, reference
from autograder.engine import Grader, default_source_dir
from autograder.sandbox import Limits, bwrap_path
from convlab.exercises import training
from convlab.exercises.registry import chapter

HERE = Path(__file__).resolve().parent
INSECURE = bwrap_path() is None
LIMITS = Limits(startup_s=120.0, memory_mb=4096)
SECRET = b"shared-reference-tests"
#: Chapter 1's training check and one quick exercise: a student takes seconds.
ONLY = ("conv_output_size", "train_digits_cnn")
#: Fields that differ between two gradings of the same submission: the clock.
TIMING = {"execution_time", "seconds", "elapsed_s", "wall_s"}


@dataclasses.dataclass
class OnlyGrader(Grader):
    """A grader of the exercises named in ``only``."""

    only: tuple[str, ...] = ONLY

    def submissions(self, path: Path) -> list:
        return [(p, nb, ch, tuple(e for e in exs if e.name in self.only))
                for p, nb, ch, exs in super().submissions(path)]


def make_grader(student: str) -> Grader:
    return OnlyGrader(source_dir=default_source_dir(), secret=SECRET, student=student,
                      limits=LIMITS, insecure=INSECURE)


def make_class(root: Path, students: int) -> None:
    ch = chapter("ch01")
    root.mkdir()
    for i in range(students):
        shutil.copy(default_source_dir() / ch.id / ch.notebook, root / f"student{i}.ipynb")


def _comparable(value, drop=TIMING | {"shared_reference"}):
    if isinstance(value, dict):
        return {k: _comparable(v, drop) for k, v in value.items() if k not in drop}
    if isinstance(value, list):
        return [_comparable(v, drop) for v in value]
    return value


def _results(out: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(out.glob("*.json"))}


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every reference training run in this process, counted (seeds); nothing cached before."""
    calls: list[int] = []
    original = training.Training.train

    def train(self, piece, seed, device):
        if piece is None:
            calls.append(seed)
        return original(self, piece, seed, device)

    training.reference_run.cache_clear()
    monkeypatch.setattr(training.Training, "train", train)
    monkeypatch.setattr(training, "SHARED_RUNS", {})
    yield calls
    training.reference_run.cache_clear()


@pytest.mark.slow
def test_batch_computes_the_reference_once_and_grades_as_without_it(tmp_path, counted):
    make_class(tmp_path / "class", 3)
    shared, alone = tmp_path / "shared", tmp_path / "alone"
    shared.mkdir()
    alone.mkdir()
    report = batch.grade_batch(tmp_path / "class", shared, make_grader, workers=2,
                               progress=False)
    assert report.reference == {"ch01": "computed"}
    assert sorted(report.graded) == ["student0", "student1", "student2"]
    assert len(counted) == 1  # three students, one reference run, before grading began
    assert reference.path_for(shared / reference.FOLDER, "ch01", "cpu").is_file()
    with_file = _results(shared)
    for data in with_file.values():
        assert data["extra_data"]["shared_reference"] == ["ch01"]
        assert data["score"] == data["max_score"] > 0, [t.get("output") for t in data["tests"]]

    # the same class without the shared file: each grading computes (its cache aside) its own
    training.reference_run.cache_clear()
    training.SHARED_RUNS.clear()
    report = batch.grade_batch(tmp_path / "class", alone, make_grader, workers=1,
                               progress=False, shared_reference=False)
    assert report.reference == {}
    assert not (alone / reference.FOLDER).exists()
    without = _results(alone)
    assert all("shared_reference" not in d["extra_data"] for d in without.values())
    assert _comparable(with_file) == _comparable(without)


@pytest.mark.slow
def test_the_dask_workers_load_the_batch_reference(tmp_path, counted, monkeypatch):
    pytest.importorskip("distributed")
    from autograder.distributed import dask_executor

    # the workers unpickle this module's grader factory
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        filter(None, [str(HERE), os.environ.get("PYTHONPATH")])))
    make_class(tmp_path / "class", 2)
    threads, dask = tmp_path / "threads", tmp_path / "dask"
    threads.mkdir()
    dask.mkdir()
    with dask_executor("local", workers=2) as executor:
        report = batch.grade_batch(tmp_path / "class", dask, make_grader, progress=False,
                                   executor=executor)
    assert report.reference == {"ch01": "computed"} and len(counted) == 1
    got = _results(dask)
    # every worker judged with the batch's runs: none trained the reference network
    assert all(d["extra_data"].get("shared_reference") == ["ch01"] for d in got.values()), \
        [d["extra_data"] for d in got.values()]
    shutil.copytree(dask / reference.FOLDER, threads / reference.FOLDER)
    report = batch.grade_batch(tmp_path / "class", threads, make_grader, workers=2,
                               progress=False)
    assert report.reference == {"ch01": "reused"} and len(counted) == 1
    assert _comparable(_results(threads), TIMING) == _comparable(got, TIMING)


# -- the file itself ---------------------------------------------------------------------------
def chapter_exercise(name: str):
    from convlab.exercises import ch01

    return next(e for e in ch01.EXERCISES if e.name == name)


train_digits_cnn = chapter_exercise("train_digits_cnn")


def _short() -> tuple:
    """Chapter 1's training check cut to 3 steps: a reference run in a fraction of a second."""
    ex = train_digits_cnn.replace(training=dataclasses.replace(train_digits_cnn.spec, steps=3))
    return (ex,)


def test_a_prepared_file_is_verified_and_reused(tmp_path, counted):
    exercises = _short()
    assert reference.prepare(tmp_path, "ch01", exercises, SECRET, "cpu") == "computed"
    assert reference.prepare(tmp_path, "ch01", exercises, SECRET, "cpu") == "reused"
    assert len(counted) == 1
    runs = reference.read(tmp_path, "ch01", exercises, SECRET, "cpu")
    (run_case,) = reference.run_cases(SECRET, exercises[0])
    seed = run_case.kwargs["seed"]
    losses, weights = training.reference_run(exercises[0].spec, seed, "cpu")
    got_losses, got_weights = runs[exercises[0].key + "#0"]
    np.testing.assert_array_equal(got_losses, losses)
    assert [n for n, _ in got_weights] == [n for n, _ in weights]
    for (_, a), (_, b) in zip(got_weights, weights, strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b) and not a.flags.writeable
    assert reference.install(tmp_path, "ch01", exercises, SECRET, "cpu") is None
    installed = training.SHARED_RUNS[(exercises[0].spec, seed, "cpu")]
    np.testing.assert_array_equal(installed[0], losses)


@pytest.mark.parametrize("where", ["header", "array", "tag", "truncated"])
def test_a_tampered_file_is_rejected_and_recomputed(tmp_path, counted, where):
    exercises = _short()
    reference.prepare(tmp_path, "ch01", exercises, SECRET, "cpu")
    path = reference.path_for(tmp_path, "ch01", "cpu")
    data = bytearray(path.read_bytes())
    if where == "truncated":
        data = data[:-5]
    else:
        i = {"header": len(reference.MAGIC) + 12, "array": len(data) - 40,
             "tag": len(data) - 1}[where]
        data[i] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(reference.ReferenceFileError, match="tag|not a reference"):
        reference.read(tmp_path, "ch01", exercises, SECRET, "cpu")
    assert "tag" in reference.install(tmp_path, "ch01", exercises, SECRET, "cpu")
    assert training.SHARED_RUNS == {}
    assert reference.prepare(tmp_path, "ch01", exercises, SECRET, "cpu") == "computed"
    reference.read(tmp_path, "ch01", exercises, SECRET, "cpu")  # whole again


def test_a_file_of_another_course_is_rejected(tmp_path, counted):
    exercises = _short()
    reference.prepare(tmp_path, "ch01", exercises, b"another course", "cpu")
    with pytest.raises(reference.ReferenceFileError, match="tag"):
        reference.read(tmp_path, "ch01", exercises, SECRET, "cpu")
    assert reference.prepare(tmp_path, "ch01", exercises, SECRET, "cpu") == "computed"


@pytest.mark.parametrize("change", ["torch", "device", "declaration", "seed"])
def test_a_stale_file_is_rejected_and_recomputed(tmp_path, counted, change):
    """A file whose tag is right but which was computed for something else."""
    exercises = _short()
    key = reference.file_key("ch01", exercises, "cpu")
    runs = reference.compute(exercises, SECRET, "cpu")
    if change == "torch":
        key["torch"] = "0.0.0"
    elif change == "device":
        key["device"] = "cuda"
    elif change == "declaration":
        # the same exercise declared with 4 steps: another declaration hash
        key = reference.file_key("ch01", (exercises[0].replace(training=dataclasses.replace(
            exercises[0].spec, steps=4)),), "cpu")
    else:  # a run drawn from another seed, under the right key
        ex_key, (seed, run) = next(iter(runs.items()))
        runs = {ex_key: (seed + 1, run)}
    path = reference.path_for(tmp_path, "ch01", "cpu")
    path.write_bytes(reference.encode(key, runs, SECRET))
    with pytest.raises(reference.ReferenceFileError, match="stale|another seed"):
        reference.read(tmp_path, "ch01", exercises, SECRET, "cpu")
    assert reference.install(tmp_path, "ch01", exercises, SECRET, "cpu")
    assert training.SHARED_RUNS == {}
    assert reference.prepare(tmp_path, "ch01", exercises, SECRET, "cpu") == "computed"
    reference.read(tmp_path, "ch01", exercises, SECRET, "cpu")


def test_declaration_digest_follows_the_declaration_and_the_code():
    ex = train_digits_cnn
    assert reference.declaration_digest(ex) == reference.declaration_digest(ex.replace())
    other = ex.replace(training=dataclasses.replace(ex.spec, lr=ex.spec.lr * 2))
    assert reference.declaration_digest(other) != reference.declaration_digest(ex)
    assert len(reference.code_digest()) == 64


def test_the_training_seed_is_the_course_s_not_the_student_s():
    ex = train_digits_cnn
    assert reference.shared_seed(SECRET, ex) == reference.shared_seed(SECRET, ex)
    assert reference.shared_seed(SECRET, ex) != reference.shared_seed(b"other", ex)
    assert reference.shares_reference(ex)
    assert not reference.shares_reference(chapter_exercise("conv_output_size"))
    # a student's own cases (the module's hidden probes) stay the student's; the run is shared
    a, b = reference.cases(ex, 1, SECRET), reference.cases(ex, 2, SECRET)
    runs = [c for c in a if "build" not in c.kwargs]
    assert runs == [c for c in b if "build" not in c.kwargs] == reference.run_cases(SECRET, ex)
    probes_a = [c for c in a if "build" in c.kwargs]
    probes_b = [c for c in b if "build" in c.kwargs]
    assert probes_a and len(probes_a) == len(probes_b)
    assert any(not np.array_equal(p.kwargs["x"], q.kwargs["x"])
               for p, q in zip(probes_a, probes_b, strict=True))
