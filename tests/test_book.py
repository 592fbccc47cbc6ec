"""Does the book build strictly, in both editions, and does every page work offline in a real
browser?

The book is built once per test session (a session-wide fixture shared by pytest-xdist's
workers) into a temporary folder, with the same commands as ``make book``
(``scripts/build-book.py``: ``jupyter-book build -W --keep-going --all`` with pages read in
parallel): the English edition at the site's root, every page executed, then the Chinese edition
under ``zh/`` from the same execution cache, so that no page executes twice. Any Sphinx warning
in either fails the build. The browser test serves that site from 127.0.0.1 and opens every page
of both editions in Debian's Chromium (driven by Playwright, no browser download): no request may
fail or leave 127.0.0.1, math must be typeset by the local MathJax, and every image must decode.

The small builds at the end check the execution cache itself: a page whose code fails fails
every strict build (it is never cached), an edit to one page executes that page only, and the
Chinese edition executes nothing.
"""

from __future__ import annotations

import fcntl
import fnmatch
import functools
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

pytestmark = [pytest.mark.book, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: A Sphinx warning or error line ("path:line: WARNING: ..."); kernel log lines such as
#: "[IPKernelApp] WARNING | ..." are the kernel's own start-up chatter, not build warnings.
SPHINX_PROBLEM = re.compile(r"\b(WARNING|ERROR|CRITICAL|SEVERE):")
#: jupyter_client's ZMQ stream logging an exception of its own while a finished kernel shuts
#: down: no page's problem (a cell's error fails the strict build, whose status is checked).
KERNEL_CLIENT_NOISE = re.compile(
    r"ERROR:tornado\.general:Uncaught exception in ZMQStream callback$")
#: Wall-time limits: the build executes every page; the tests wait for it.
BUILD_TIMEOUT_S = 1800
TEST_TIMEOUT_S = 2400
#: Pages Sphinx writes besides the book's own documents (still visited, not required in the toc).
GENERATED_PAGES = {"genindex.html", "search.html", "index.html"}
#: The translated editions ``make book`` builds besides English: (Sphinx language, folder).
EDITIONS = (("zh_CN", "zh"),)
#: The line myst-nb logs for each page it executes (a page taken from the cache logs
#: "Using cached notebook").
EXECUTED = re.compile(r"^(\S+): Executed notebook in", re.M)


@dataclass(frozen=True)
class Build:
    """The site: English at ``html``, each translated edition in its folder under it.
    ``returncode`` is the worst of the builds', ``log`` all their logs, ``seconds`` the
    total; ``editions`` gives each build's own (returncode, log, seconds) by language
    (``"en"``, ``"zh_CN"``)."""

    returncode: int
    log: str
    html: Path
    seconds: float
    editions: dict[str, dict] = field(default_factory=dict)


def _toc_docnames(root: Path) -> list[str]:
    """The documents ``_toc.yml`` names, with its globs expanded against the source tree."""
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    sources = sorted(
        str(p.relative_to(root).with_suffix("")) for p in (root / "book").rglob("*.md")
    )
    names: list[str] = [toc["root"]]

    def walk(entries: list[dict]) -> None:
        for entry in entries:
            if "file" in entry:
                names.append(entry["file"])
            if "glob" in entry:
                names.extend(s for s in sources if fnmatch.fnmatch(s, entry["glob"]))
            for key in ("sections", "chapters"):
                walk(entry.get(key, []))
            for part in entry.get("parts", []):
                walk(part.get("chapters", []))

    walk(toc.get("parts", []))
    walk(toc.get("chapters", []))
    return names


def _build(root: Path, out: Path, language: str | None = None) -> dict:
    """Run the strict build into ``out`` (of the edition in ``language``, English when None);
    its exit status, log and duration."""
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # the kernel draws inline
    start = time.perf_counter()
    edition = ["--language", language] if language else []
    proc = subprocess.run(
        [sys.executable, str(root / "scripts/build-book.py"), *edition, "-W", "--keep-going",
         "--all", "--path-output", str(out), str(root)],
        cwd=root, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S,
    )
    return {"returncode": proc.returncode, "log": proc.stdout + proc.stderr,
            "seconds": time.perf_counter() - start}


@pytest.fixture(scope="module")
def book(root: Path, tmp_path_factory: pytest.TempPathFactory) -> Build:
    """The book in both editions, built once per test session even when pytest-xdist spreads
    the tests over several workers: the first worker builds under a lock, the others read its
    record. The Chinese edition is built after the English one, from its execution cache."""
    mathjax = root / "book/_static/mathjax/tex-mml-chtml.js"
    if not mathjax.is_file():
        pytest.fail(f"{mathjax} is missing: run `make setup` (scripts/fetch-mathjax.sh)")
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    out = shared / "convlab-book"
    record = out / "build.json"
    with open(shared / "convlab-book.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if record.is_file():
            results = json.loads(record.read_text(encoding="utf-8"))
        else:
            results = {"en": _build(root, out)}
            for language, _ in EDITIONS:
                results[language] = _build(root, out, language)
            record.write_text(json.dumps(results), encoding="utf-8")
    return Build(max(r["returncode"] for r in results.values()),
                 "\n".join(r["log"] for r in results.values()), out / "_build" / "html",
                 sum(r["seconds"] for r in results.values()), results)


@pytest.mark.timeout(TEST_TIMEOUT_S)
def test_build_is_strict_and_clean(book: Build, root: Path) -> None:
    """Does the strict build of each edition succeed with no warning, and produce a page per
    toc entry? Does the Chinese edition take every page from the execution cache?"""
    problems = [line for line in book.log.splitlines()
                if SPHINX_PROBLEM.search(line) and not KERNEL_CLIENT_NOISE.match(line)]
    assert problems == [], "the build logged warnings:\n" + "\n".join(problems)
    assert book.returncode == 0, "the book build failed:\n" + book.log[-6000:]
    for folder in ["", *(f for _, f in EDITIONS)]:
        html = book.html / folder
        missing = [d for d in _toc_docnames(root) if not (html / f"{d}.html").is_file()]
        assert missing == [], f"toc entries without an HTML page in {html}: {missing}"
        assert (html / "_static/mathjax/tex-mml-chtml.js").is_file()
    print("build seconds:", {k: round(v["seconds"], 1) for k, v in book.editions.items()})
    for language, _ in EDITIONS:
        executed = EXECUTED.findall(book.editions[language]["log"])
        assert executed == [], f"the {language} edition executed pages again: {executed}"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def server(book: Build) -> Iterator[str]:
    # With --keep-going a build with warnings still writes its pages; they are checked too.
    if not (book.html / "index.html").is_file():
        pytest.fail("the book wrote no HTML; see test_build_is_strict_and_clean")
    handler = functools.partial(_QuietHandler, directory=str(book.html))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _pages(html: Path) -> list[str]:
    """Every HTML page of the site, both editions, as paths relative to its root."""
    skip = {"_static", "_sources", "_images"}
    return sorted(
        p.relative_to(html).as_posix() for p in html.rglob("*.html")
        if not skip.intersection(p.relative_to(html).parts)
    )


# Wait until MathJax (if the page loads it) has typeset, then report what the page shows.
_INSPECT = """
async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  const imgs = Array.from(document.images);
  for (const img of imgs) { img.loading = "eager"; }
  await Promise.all(imgs.map(img => img.decode().catch(() => null)));
  const math = Array.from(document.querySelectorAll(".math"));
  return {
    mathjaxScripts: Array.from(document.scripts).map(s => s.src).filter(s => /mathjax/i.test(s)),
    math: math.length,
    untypeset: math.filter(e => !e.querySelector("mjx-container")).length,
    mjx: document.querySelectorAll("mjx-container").length,
    brokenImages: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src),
    images: imgs.length,
  };
}
"""


@pytest.mark.timeout(TEST_TIMEOUT_S)
def test_every_page_works_offline(book: Build, server: str) -> None:
    """Does every page load from 127.0.0.1 alone, typeset its math and show its images?"""
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: run `make system-deps`")
    from playwright.sync_api import sync_playwright

    pages = _pages(book.html)
    assert len(pages) > len(GENERATED_PAGES), f"too few pages built: {pages}"
    failures: list[str] = []
    outside: list[str] = []
    problems: list[str] = []
    math_pages = 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            page = context.new_page()
            page.on("requestfailed",
                    lambda r: failures.append(f"{r.url} ({r.failure})"))
            page.on("response",
                    lambda r: failures.append(f"{r.url} (HTTP {r.status})") if r.status >= 400
                    else None)
            page.on("request",
                    lambda r: outside.append(r.url)
                    if urlparse(r.url).scheme in ("http", "https", "ws", "wss")
                    and urlparse(r.url).hostname != "127.0.0.1" else None)
            for name in pages:
                before = (len(failures), len(outside))
                page.goto(f"{server}/{name}", wait_until="networkidle")
                seen = page.evaluate(_INSPECT)
                page.wait_for_timeout(300)  # requests typesetting started (fonts) land here
                if (len(failures), len(outside)) != before:
                    problems.append(f"{name}: failed or outside requests "
                                    f"{failures[before[0]:] + outside[before[1]:]}")
                if seen["math"]:
                    math_pages += 1
                    local = [s for s in seen["mathjaxScripts"] if s.startswith(server)]
                    if not local or len(local) != len(seen["mathjaxScripts"]):
                        problems.append(f"{name}: MathJax not served locally: "
                                        f"{seen['mathjaxScripts']}")
                    if seen["mjx"] == 0 or seen["untypeset"]:
                        problems.append(f"{name}: {seen['untypeset']} of {seen['math']} math "
                                        f"elements not typeset ({seen['mjx']} mjx-container)")
                if seen["brokenImages"]:
                    problems.append(f"{name}: images that did not load {seen['brokenImages']}")
        finally:
            browser.close()
    assert problems == [], "\n".join(problems)
    assert failures == [] and outside == []
    assert math_pages > 0, "no page with math was found; the math check checked nothing"


# ---- the execution cache and strictness, on small books ------------------------------------

_FRONT = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

"""


def _page(title: str, code: str, prose: str = "Some prose.") -> str:
    return f"{_FRONT}# {title}\n\n{prose}\n\n```{{code-cell}} ipython3\n{code}\n```\n"


def _small_book(root: Path, src: Path, pages: dict[str, str],
                translations: dict[str, dict[str, str]] | None = None) -> Path:
    """A book of ``pages`` ({docname: MyST text}, the first one its root) with the project's
    configuration and extensions, and a Chinese catalogue per page from ``translations``
    ({docname: {msgid: msgstr}})."""
    import shutil

    from babel.messages.catalog import Catalog
    from babel.messages.pofile import write_po

    (src / "book").mkdir(parents=True)
    for entry in ("autograder", "pyproject.toml", "README.md"):
        (src / entry).symlink_to(root / entry)
    # Copies: the execution cache is keyed by the package's sources next to the build script,
    # which must not change while a test compares builds.
    for entry in ("convlab", "scripts"):
        shutil.copytree(root / entry, src / entry,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copytree(root / "book" / "_ext", src / "book" / "_ext")
    (src / "book" / "_static").mkdir()
    for f in (root / "book" / "_static").glob("*.*"):
        shutil.copy(f, src / "book" / "_static" / f.name)
    (src / "book" / "_static" / "mathjax").symlink_to(root / "book" / "_static" / "mathjax")
    shutil.copytree(root / "book" / "_extra", src / "book" / "_extra")
    (src / "book" / "references.bib").write_text("")
    for name, text in pages.items():
        (src / f"{name}.md").parent.mkdir(parents=True, exist_ok=True)
        (src / f"{name}.md").write_text(text, encoding="utf-8")
    for name, messages in (translations or {}).items():
        po = src / "book" / "locales" / "zh_CN" / "LC_MESSAGES" / f"{name}.po"
        po.parent.mkdir(parents=True, exist_ok=True)
        catalog = Catalog(locale="zh_CN")
        for msgid, msgstr in messages.items():
            catalog.add(msgid, msgstr)
        with po.open("wb") as handle:
            write_po(handle, catalog)
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    (src / "_config.yml").write_text(yaml.safe_dump(config, allow_unicode=True),
                                     encoding="utf-8")
    first, *rest = pages
    toc: dict = {"format": "jb-book", "root": first}
    if rest:
        toc["parts"] = [{"caption": "Pages", "chapters": [{"file": name} for name in rest]}]
    (src / "_toc.yml").write_text(yaml.safe_dump(toc), encoding="utf-8")
    return src


def _executed(log: str) -> list[str]:
    return sorted(Path(path).stem for path in EXECUTED.findall(log))


@pytest.mark.timeout(900)
def test_cache_executes_only_what_changed(root: Path, tmp_path: Path) -> None:
    """Build a two-page book, edit one page's code, rebuild: only that page executes; an edit
    to prose executes nothing; the Chinese edition takes every page from the cache, shows the
    translation (a glued value inside a translated message, the toc's part caption), and both
    strict builds stay clean."""
    code_a = "from myst_nb import glue\nglue('answer', 6 * 7, display=False)\nprint(6 * 7)"
    prose_a = "The answer is {glue:text}`answer`."
    pages = {"book/a": _page("Page A", code_a, prose_a),
             "book/b": _page("Page B", "print('b', 1)")}
    src = _small_book(root, tmp_path / "src", pages,
                      {"book/a": {"Page A": "页面 A", prose_a: "答案是 {glue:text}`answer`。",
                                  "Pages": "各页"}})
    out = tmp_path / "out"
    first = _build(src, out)
    assert first["returncode"] == 0, first["log"][-4000:]
    assert _executed(first["log"]) == ["a", "b"]
    (src / "book/b.md").write_text(_page("Page B", "print('b', 2)"), encoding="utf-8")
    second = _build(src, out)
    assert second["returncode"] == 0, second["log"][-4000:]
    assert _executed(second["log"]) == ["b"], second["log"][-4000:]
    assert "b 2" in (out / "_build/html/book/b.html").read_text(encoding="utf-8")
    (src / "book/a.md").write_text(_page("Page A", code_a, prose_a + "\n\nOther prose."),
                                   encoding="utf-8")
    third = _build(src, out)
    assert third["returncode"] == 0 and _executed(third["log"]) == []
    assert "Other prose." in (out / "_build/html/book/a.html").read_text(encoding="utf-8")
    zh = _build(src, out, "zh_CN")
    assert zh["returncode"] == 0, zh["log"][-4000:]
    assert _executed(zh["log"]) == [], "the Chinese edition executed a page again"
    page = (out / "_build/html/zh/book/a.html").read_text(encoding="utf-8")
    assert "页面 A" in page
    assert '答案是 <span class="pasted-text">42</span>' in page, "a glued value in a translation"
    assert not (out / "_build/html/jupyter_execute").exists(), "build files inside the site"
    sidebar = (out / "_build/html/zh/book/b.html").read_text(encoding="utf-8")
    assert "各页" in sidebar and ">Pages<" not in sidebar, "the toc's part caption, translated"
    assert '<html lang="zh-CN"' in page
    for build in (first, second, third, zh):
        assert not [line for line in build["log"].splitlines() if SPHINX_PROBLEM.search(line)]
        assert "database is locked" not in build["log"]


@pytest.mark.timeout(900)
def test_strict_build_fails_on_cell_error_and_warning_every_time(root: Path,
                                                                  tmp_path: Path) -> None:
    """A page whose cell raises fails the strict build, and fails it again on a rebuild (a
    failed page is never cached); so does a page with a Sphinx warning, although the rebuild
    has nothing new to read; fixed, the book builds clean."""
    pages = {"book/a": _page("Page A", "print(6 * 7)"),
             "book/b": _page("Page B", "raise RuntimeError('planted')"),
             "book/c": _page("Page C", "print(1)", "See {doc}`no-such-page`.")}
    src = _small_book(root, tmp_path / "src", pages)
    out = tmp_path / "out"
    for attempt in range(2):
        result = _build(src, out)
        assert result["returncode"] != 0, f"build {attempt + 1} passed a failing cell"
        assert "Executing notebook failed" in result["log"], result["log"][-4000:]
        assert "CellExecutionError" in result["log"]
        assert "unknown document" in result["log"], f"build {attempt + 1} lost the warning"
    (src / "book/b.md").write_text(_page("Page B", "print(2)"), encoding="utf-8")
    (src / "book/c.md").write_text(_page("Page C", "print(1)", "See {doc}`a`."),
                                   encoding="utf-8")
    fixed = _build(src, out)
    assert fixed["returncode"] == 0, fixed["log"][-4000:]
    assert _executed(fixed["log"]) == ["b"], "only the page that failed runs again"
