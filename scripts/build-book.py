"""``jupyter-book build`` with Sphinx's parallel reading: every page is executed, N at a time.

Usage: ``.venv/bin/python scripts/build-book.py [--jobs N] [jupyter-book build options] PATH``

Jupyter Book 1.x's command line always builds with one Sphinx process, so a book whose pages
each execute a notebook uses one core. This runs the very same ``jupyter-book build`` command
with Sphinx's ``parallel=N`` (default: the number of cores), so that N pages execute at once.
Every other option (``-W --keep-going --all --path-output ...``) means what it means there.

Sphinx reads in parallel only when every extension declares itself safe for it. Two of Jupyter
Book's own declare nothing (Sphinx then warns and reads serially): ``sphinx_multitoc_numbering``
numbers sections after reading, in the main process, and ``sphinx_jupyterbook_latex`` adds
transforms that act for the LaTeX builder only and keep no state in the environment. Neither
shares anything between documents while they are read, so both are declared safe here.

With ``execute_notebooks: cache`` a page is executed again only when its code changed; but a
page's outputs also depend on the ``convlab`` package it imports. The cache therefore lives in
a folder named after a hash of the package's sources and ``pyproject.toml``
(``_build/.jupyter_cache/convlab-<hash>``): any change to them starts a fresh cache, so a page
never shows outputs of code that is no longer there.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jupyter_book import sphinx as jb_sphinx
from jupyter_book.cli import main as cli

#: Jupyter Book's extensions that keep no per-document state, but declare no parallel safety.
UNDECLARED_SAFE = ("sphinx_multitoc_numbering", "sphinx_jupyterbook_latex")


def _declare_parallel_safe(module_name: str) -> None:
    module = importlib.import_module(module_name)
    setup = module.setup

    @functools.wraps(setup)
    def parallel_safe_setup(app: object) -> dict:
        meta = dict(setup(app) or {})
        meta.update(parallel_read_safe=True, parallel_write_safe=True)
        return meta

    module.setup = parallel_safe_setup


def source_key(root: Path) -> str:
    """A short hash of every file that pages' outputs depend on besides the pages."""
    digest = hashlib.sha256()
    files = sorted((root / "convlab").rglob("*.py")) + [root / "pyproject.toml"]
    for path in files:
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _with_keyed_cache(build_sphinx: Callable[..., Any], root: Path) -> Callable[..., Any]:
    @functools.wraps(build_sphinx)
    def build(sourcedir: Any, outputdir: Any, **kwargs: Any) -> Any:
        cache = Path(outputdir).parent / ".jupyter_cache" / f"convlab-{source_key(root)}"
        overrides = dict(kwargs.pop("confoverrides", None) or {})
        overrides.setdefault("nb_execution_cache_path", str(cache))
        return build_sphinx(sourcedir, outputdir, confoverrides=overrides, **kwargs)

    return build


def main(argv: list[str]) -> int:
    jobs = os.cpu_count() or 1
    if argv[:1] == ["--jobs"]:
        if len(argv) < 2 or not argv[1].isdigit() or int(argv[1]) < 1:
            print("--jobs must be followed by a positive integer", file=sys.stderr)
            return 2
        jobs, argv = int(argv[1]), argv[2:]
    for name in UNDECLARED_SAFE:
        _declare_parallel_safe(name)
    # the command imports build_sphinx from jupyter_book.sphinx when it runs
    root = Path(__file__).resolve().parent.parent
    jb_sphinx.build_sphinx = _with_keyed_cache(
        functools.partial(jb_sphinx.build_sphinx, jobs=jobs), root)
    try:
        cli.main(["build", *argv], standalone_mode=False)
    except SystemExit as exc:  # jupyter-book exits with the build's status
        return int(exc.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
