"""``jupyter-book build`` with Sphinx's parallel reading, an execution cache, and the editions.

Usage: ``.venv/bin/python scripts/build-book.py [--jobs N] [--language LANG] [--execute MODE]
[--fresh-env] [jupyter-book build options] PATH``

Jupyter Book 1.x's command line always builds with one Sphinx process, so a book whose pages
each execute a notebook uses one core. This runs the very same ``jupyter-book build`` command
with Sphinx's ``parallel=N`` (default: the number of cores), so that N pages are read (and, when
their code changed, executed) at once. Every other option (``-W --keep-going --all
--path-output ...``) means what it means there.

Sphinx reads in parallel only when every extension declares itself safe for it. Two of Jupyter
Book's own declare nothing (Sphinx then warns and reads serially): ``sphinx_multitoc_numbering``
numbers sections after reading, in the main process, and ``sphinx_jupyterbook_latex`` adds
transforms that act for the LaTeX builder only and keep no state in the environment. Neither
shares anything between documents while they are read, so both are declared safe here.

**The execution cache.** With ``execute_notebooks: cache`` (``_config.yml``) a page is executed
again only when its code changed (jupyter-cache matches a page by a hash of its code cells and
kernel); a page whose code is unchanged takes its outputs from the cache. A page's outputs also
depend on the ``convlab`` package it imports, so the cache lives in a folder named after a hash
of the package's sources and ``pyproject.toml`` (``_build/.jupyter_cache/convlab-<hash>``): any
change to them starts a fresh cache, so a page never shows outputs of code that is no longer
there. The cache's database is created here, before Sphinx forks its readers, which then only
read and add records. A page whose execution fails is never cached: it runs again, and warns
again, on every build.

**Incremental and strict rebuilds.** Jupyter Book's ``--all`` asks Sphinx to read every page
again (a fresh environment); here it means that every page is *written* again, while a page is
read again only when it changed (Sphinx's own bookkeeping: the page, the catalogues it is
translated with, the configuration), so a one-page edit reads, and executes, that page alone. A
warning met while reading an unchanged page would then not be repeated, so each build leaves a
record in its doctree folder (``convlab-build.json``) only when it was strict (``-W``) and clean,
and a build reads every page again (pages still taken from the execution cache) when it finds
no such record, or one made for other sources of ``convlab``, of the book's extensions
(``book/_ext``) or of ``_toc.yml``. A strict build that passes has thus met every page's
warnings. ``--fresh-env`` reads every page again regardless. Writing every page would also
make Sphinx compile every catalogue again, and so read every page of a translated edition
again (each depends on its compiled catalogue); only the catalogues older than their ``.po``
are compiled.

**The editions.** ``--language zh_CN`` builds the translated edition (Sphinx's gettext
catalogues, ``book/locales``) with the same sources and the same execution cache (no page runs
twice), into the folder that ``convlab_editions`` in ``_config.yml`` names for it under the
site's root (``_build/html/zh``), with its own doctrees (``_build/.doctrees-zh_CN``) and the
edition's title. Without ``--language`` the English edition is built at the site's root.

``--execute off`` (or any of myst-nb's modes) overrides ``execute_notebooks`` for one build: the
message templates of the translation (``--builder custom --custom-builder gettext``, into
``_build/gettext``) need no output (with execution off, the missing glued values are not
reported). A builder other than HTML keeps its own doctrees
(``_build/.doctrees-<builder>``), so that it never makes the HTML build read every page again.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
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


#: What a clean strict build leaves in its doctree folder (see "Strict rebuilds" above).
BUILD_RECORD = "convlab-build.json"


def editions(config_path: Path) -> dict[str, dict[str, str]]:
    """``convlab_editions`` of a book's ``_config.yml``: {Sphinx language: {"folder": the
    edition's folder under the site's root ("" for the root), "label": its name in the language
    links, "title": the book's title in that language (optional)}}."""
    config = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    found = ((config.get("sphinx") or {}).get("config") or {}).get("convlab_editions") or {}
    if not isinstance(found, dict):
        raise ValueError(f"{config_path}: convlab_editions must map a language to its settings")
    return found


#: How many caches of other versions of the package are kept beside the current one.
KEEP_OLD_CACHES = 2


def prepare_cache(path: Path) -> None:
    """Create the execution cache's folder and database (once, in this process), so that the
    parallel readers never race to create them; remove all but the ``KEEP_OLD_CACHES`` most
    recently used caches of other versions of the package."""
    from jupyter_cache import get_cache

    cache = get_cache(str(path))
    cache.db.dispose()
    path.touch()
    others = sorted((p for p in path.parent.glob("convlab-*") if p.is_dir() and p != path),
                    key=lambda p: p.stat().st_mtime, reverse=True)
    for old in others[KEEP_OLD_CACHES:]:
        shutil.rmtree(old, ignore_errors=True)


def environment_key(sourcedir: Path, key: str) -> str:
    """What a page's doctree depends on besides the page and the configuration, which Sphinx
    does not track: ``convlab`` (``key``), the book's extensions and templates, the toc."""
    digest = hashlib.sha256(key.encode())
    ext = sourcedir / "book" / "_ext"
    files = sorted(p for p in ext.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for path in [*files, sourcedir / "_toc.yml"]:
        if path.is_file():
            digest.update(str(path.relative_to(sourcedir)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _previous_build_clean(doctrees: Path, key: str) -> bool:
    record = doctrees / BUILD_RECORD
    try:
        return json.loads(record.read_text(encoding="utf-8")) == {"clean": True, "key": key}
    except (OSError, ValueError):
        return False


def _with_keyed_cache(build_sphinx: Callable[..., Any], root: Path, language: str | None,
                      execute: str | None = None,
                      fresh_env: bool = False) -> Callable[..., Any]:
    @functools.wraps(build_sphinx)
    def build(sourcedir: Any, outputdir: Any, **kwargs: Any) -> Any:
        key = source_key(root)
        outputdir = Path(outputdir)
        build_dir = outputdir.parent
        cache = build_dir / ".jupyter_cache" / f"convlab-{key}"
        if execute != "off":
            prepare_cache(cache)
        overrides = dict(kwargs.pop("confoverrides", None) or {})
        overrides.setdefault("nb_execution_cache_path", str(cache))
        if execute is not None:
            overrides["nb_execution_mode"] = execute
        if execute == "off":  # no outputs, so no glued values: not a fault of the pages
            overrides["suppress_warnings"] = ["mystnb.glue"]
        if language is not None:
            config_path = Path(kwargs.get("path_config") or Path(sourcedir) / "_config.yml")
            edition = editions(config_path).get(language)
            if not edition or not edition.get("folder"):
                raise SystemExit(f"--language {language}: {config_path} names no folder for "
                                 "it in convlab_editions")
            overrides["language"] = language
            if edition.get("title"):
                overrides["html_title"] = edition["title"]
            outputdir = outputdir / edition["folder"]
            kwargs["doctreedir"] = build_dir / f".doctrees-{language}"
        elif kwargs.get("builder", "html") != "html":
            kwargs["doctreedir"] = build_dir / f".doctrees-{kwargs['builder']}"
        doctrees = Path(kwargs.get("doctreedir") or build_dir / ".doctrees")
        # jupyter-book's --all: write every page; read again what changed, or everything
        # when the last build was not clean or was made from other sources
        if kwargs.pop("freshenv", False):
            kwargs["force_all"] = True
        env_key = environment_key(Path(sourcedir), key)
        kwargs["freshenv"] = fresh_env or not _previous_build_clean(doctrees, env_key)
        (doctrees / BUILD_RECORD).unlink(missing_ok=True)
        status = build_sphinx(sourcedir, outputdir, confoverrides=overrides, **kwargs)
        if status == 0 and kwargs.get("warningiserror") and doctrees.is_dir():
            (doctrees / BUILD_RECORD).write_text(json.dumps({"clean": True, "key": env_key}),
                                                 encoding="utf-8")
        return status

    return build


def main(argv: list[str]) -> int:
    jobs = os.cpu_count() or 1
    language = execute = None
    fresh_env = "--fresh-env" in argv
    argv = [a for a in argv if a != "--fresh-env"]
    while argv[:1] in (["--jobs"], ["--language"], ["--execute"]):
        if len(argv) < 2:
            print(f"{argv[0]} must be followed by a value", file=sys.stderr)
            return 2
        if argv[0] == "--jobs":
            if not argv[1].isdigit() or int(argv[1]) < 1:
                print("--jobs must be followed by a positive integer", file=sys.stderr)
                return 2
            jobs = int(argv[1])
        elif argv[0] == "--language":
            language = argv[1]
        else:
            execute = argv[1]
        argv = argv[2:]
    for name in UNDECLARED_SAFE:
        _declare_parallel_safe(name)
    from sphinx.builders import Builder

    Builder.compile_all_catalogs = Builder.compile_update_catalogs  # type: ignore[method-assign]
    # the command imports build_sphinx from jupyter_book.sphinx when it runs
    root = Path(__file__).resolve().parent.parent
    jb_sphinx.build_sphinx = _with_keyed_cache(
        functools.partial(jb_sphinx.build_sphinx, jobs=jobs), root, language, execute, fresh_env)
    try:
        cli.main(["build", *argv], standalone_mode=False)
    except SystemExit as exc:  # jupyter-book exits with the build's status
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
            return 2
        return int(exc.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
