"""Grading a class on a cluster: ``grade-batch`` hands its students to Dask's scheduler.

One grading box runs ``grade-batch --workers N`` with a pool of threads, each grading one
student in its own sandboxes. A course with thousands of submissions can instead send each
student to a worker of a `Dask distributed <https://distributed.dask.org>`_ cluster: the batch
still runs where it was started (it discovers the students, skips those already graded, writes
every ``<student>.json`` atomically as each comes back and rebuilds ``scores.csv``); only the
call ``grade_one(submission, make_grader)`` runs on a worker node, which grades with the same
sandboxed :class:`~autograder.engine.Grader` as the local executor. So:

* the results are those of the local executor (same grader, same seeds, same checks);
* a finished student is never graded again, and a killed batch resumes where it stopped,
  because both depend only on the results files the driver writes;
* a worker that dies mid-student loses nothing: the scheduler hands that student to another
  worker (up to ``distributed.scheduler.allowed-failures`` times); a student whose every try
  was lost is reported as not graded and, with no results file written, is graded by the next
  run.

Requirements on the workers: the same Python environment (``pip install 'convlab[cluster]'``),
bubblewrap, and the submissions folder at the same path (a shared file system, as clusters
have); the output folder too, for the training checks' reference runs, which the batch computes
once into ``OUT/reference/`` and every worker loads (:mod:`autograder.reference`) — a worker
that cannot read them trains its own, with the same results, only slower. The course secret
travels to the workers inside the grader factory, over the cluster's own connections: run the
scheduler on a private network, or with TLS.

Usage::

    python -m autograder grade-batch SUBMISSIONS --out DIR --scheduler local --workers 2
    python -m autograder grade-batch SUBMISSIONS --out DIR --scheduler tcp://HOST:8786

``local`` starts a cluster of ``--workers`` processes on 127.0.0.1 for the run (a way to try
it, and what the tests use); an address connects to a running scheduler. On Slurm or PBS,
``dask-jobqueue`` starts the scheduler and submits the workers as jobs: see the instructors'
section of the README.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import Executor

#: The scheduler name that starts a throw-away cluster on this machine.
LOCAL = "local"


def _import_distributed():  # noqa: ANN202 - the module, whose type needs the import
    try:
        import distributed
    except ImportError:
        raise ValueError("--scheduler needs Dask's 'distributed' package: "
                         "pip install 'convlab[cluster]'") from None
    return distributed


@contextlib.contextmanager
def dask_executor(scheduler: str, *, workers: int = 2) -> Iterator[Executor]:
    """An :class:`~concurrent.futures.Executor` whose tasks run on a Dask cluster.

    Args:
        scheduler: ``"local"`` for a cluster of ``workers`` processes on 127.0.0.1 (started
            here, stopped on exit), or the address of a running scheduler
            (``tcp://host:8786``).
        workers: worker processes of the local cluster (one thread each, since every task
            runs sandboxed processes of its own); ignored for an address.

    Raises:
        ValueError: ``scheduler`` is empty, ``workers`` < 1, or ``distributed`` is missing.
    """
    if not scheduler:
        raise ValueError("scheduler must be 'local' or a scheduler address, got ''")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    distributed = _import_distributed()
    with contextlib.ExitStack() as stack:
        if scheduler == LOCAL:
            cluster = stack.enter_context(distributed.LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True,
                host="127.0.0.1", dashboard_address=None, silence_logs=40))
            address = cluster.scheduler_address
        else:
            address = scheduler
        client = stack.enter_context(distributed.Client(address, set_as_default=False))
        # pure=False: two students' identical submissions are still two gradings.
        yield client.get_executor(pure=False)
