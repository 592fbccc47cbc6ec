"""Benchmarks run by ``python -m bench`` (``make bench``): :mod:`bench.ops` times convlab's
from-scratch ops against PyTorch's; :mod:`bench.grading`, when present, times the grader."""
