"""Does the book build strictly, and does every page work offline in a real browser?

The book is built once per test session (a module-scoped fixture) into a temporary folder, with
the same command as ``make book`` (``scripts/build-book.py``: ``jupyter-book build -W --keep-going
--all`` with pages executed in parallel, one per core), so every page is
executed and any Sphinx warning fails the build. The browser test serves that build from
127.0.0.1 and opens every page in Debian's Chromium (driven by Playwright, no browser download):
no request may fail or leave 127.0.0.1, math must be typeset by the local MathJax, and every
image must decode.
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
from dataclasses import dataclass
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
#: Wall-time limits: the build executes every page; the tests wait for it.
BUILD_TIMEOUT_S = 1800
TEST_TIMEOUT_S = 2400
#: Pages Sphinx writes besides the book's own documents (still visited, not required in the toc).
GENERATED_PAGES = {"genindex.html", "search.html", "index.html"}


@dataclass(frozen=True)
class Build:
    returncode: int
    log: str
    html: Path
    seconds: float


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


def _build(root: Path, out: Path) -> dict:
    """Run the strict build into ``out``; its exit status, log and duration."""
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # the kernel draws inline
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(root / "scripts/build-book.py"), "-W", "--keep-going", "--all",
         "--path-output", str(out), str(root)],
        cwd=root, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S,
    )
    return {"returncode": proc.returncode, "log": proc.stdout + proc.stderr,
            "seconds": time.perf_counter() - start}


@pytest.fixture(scope="module")
def book(root: Path, tmp_path_factory: pytest.TempPathFactory) -> Build:
    """The book, built once per test session even when pytest-xdist spreads the tests over
    several workers: the first worker builds under a lock, the others read its record."""
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
            result = json.loads(record.read_text(encoding="utf-8"))
        else:
            result = _build(root, out)
            record.write_text(json.dumps(result), encoding="utf-8")
    return Build(result["returncode"], result["log"], out / "_build" / "html",
                 result["seconds"])


@pytest.mark.timeout(TEST_TIMEOUT_S)
def test_build_is_strict_and_clean(book: Build, root: Path) -> None:
    """Does the strict build succeed with no warning, and produce a page per toc entry?"""
    problems = [line for line in book.log.splitlines() if SPHINX_PROBLEM.search(line)]
    assert problems == [], "the build logged warnings:\n" + "\n".join(problems)
    assert book.returncode == 0, "the book build failed:\n" + book.log[-6000:]
    missing = [d for d in _toc_docnames(root) if not (book.html / f"{d}.html").is_file()]
    assert missing == [], f"toc entries without an HTML page: {missing}"
    assert (book.html / "_static/mathjax/tex-mml-chtml.js").is_file()


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
    """Every HTML page of the build, as paths relative to its root."""
    skip = ("_static/", "_sources/", "_images/")
    return sorted(
        str(p.relative_to(html)) for p in html.rglob("*.html")
        if not str(p.relative_to(html)).startswith(skip)
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
