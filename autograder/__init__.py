"""ConvLab's grading engine.

``python -m autograder grade SUBMISSION --out results.json`` grades a notebook (or a folder of
notebooks) against the exercises declared in :mod:`convlab.exercises`. Each exercise runs in its
own sandboxed worker process (:mod:`autograder.worker`); only plain arrays cross back
(:mod:`autograder.wire`); the verdicts are computed in the grader's process.

Modules, one job each: ``notebook`` (read, identify, assemble), ``scan`` (static scan for
forbidden APIs), ``sandbox`` (limits, the bubblewrap command line), ``wire`` (the data-only
format), ``worker`` (runs inside the sandbox), ``engine`` (orchestration), ``results``
(Gradescope's schema, atomic write), ``batch`` (a class at once, resumable, ``scores.csv``),
``gradebook`` (scores into nbgrader's gradebook), ``gradescope`` (the autograder bundle and
its run), ``cli`` (the command line).

This package imports nothing on import: the worker loads ``autograder.wire`` and
``autograder.worker`` inside the sandbox without the rest.
"""
