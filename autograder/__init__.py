"""ConvLab's grading engine.

``python -m autograder grade SUBMISSION --out results.json`` grades a notebook (or a folder of
notebooks) against the exercises declared in :mod:`convlab.exercises`. Each answer is first
analysed statically against the answer policy (:mod:`autograder.scan`); each notebook then runs
in one sandboxed worker (:mod:`autograder.worker`) whose trusted parent forks a fresh, limited
child per exercise; only plain arrays cross back (:mod:`autograder.wire`); the verdicts are
computed in the grader's process.

Modules, one job each: ``notebook`` (read, identify, assemble), ``scan`` (the answer policy and
the forbidden APIs, statically), ``sandbox`` (limits, the bubblewrap command line), ``seccomp``
(the filter on the student's process), ``wire`` (the data-only format), ``worker`` (runs inside
the sandbox), ``engine`` (orchestration), ``results`` (Gradescope's schema, atomic writes),
``batch`` (a class at once, resumable, ``scores.csv``), ``distributed`` (``grade-batch`` on a
Dask cluster), ``gradebook`` (scores into nbgrader's gradebook), ``gradescope`` (the autograder
bundle and its run), ``cli`` (the command line).

This package imports nothing on import: the worker loads ``autograder.seccomp``,
``autograder.wire`` and ``autograder.worker`` inside the sandbox without the rest.
"""
