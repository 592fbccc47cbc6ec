"""Reading comfort of the built book, in Debian's Chromium: no console error on any page (on a
first visit, with nothing stored), and nothing wide cut off at 1280 px or at a 390 px phone
width.

The book is the one tests/test_book.py builds (once per session); the checks themselves are
plain functions (``console_problems``, ``clipped_elements``) so that they can be run against
any served build.
"""

from __future__ import annotations

import sys
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_book import (  # noqa: E402,F401
    CHROMIUM,
    CHROMIUM_ARGS,
    TEST_TIMEOUT_S,
    Build,
    _pages,
    book,
    server,
)

pytestmark = [pytest.mark.book, pytest.mark.slow]

#: The widths every page is checked at: a laptop and a phone.
WIDTHS = {"desktop": 1280, "phone": 390}

#: Containers of wide content: display and inline math, code, printed outputs, tables, the
#: explorer's drawing. Navigation (sidebars, header) is the theme's and is not checked.
_CLIPPED = """
async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  await document.fonts.ready;  // widths are measured in the web fonts MathJax loaded
  await new Promise(r => setTimeout(r, 100));  // convlab-page.js marks wide inline math
  const scrolls = (e) => ["auto", "scroll"].includes(getComputedStyle(e).overflowX);
  const sel = "div.math, span.math, mjx-container, div.highlight pre, .cell_output pre, "
    + ".output pre, table, .cx-drawing, img, svg.cx-svg";
  const vw = document.documentElement.clientWidth;
  const bad = [];
  const describe = (e) => {
    const text = (e.textContent || e.getAttribute("src") || "").trim().slice(0, 50);
    return `<${e.tagName.toLowerCase()} class="${e.getAttribute("class") || ""}"> ${text}`;
  };
  for (const e of document.querySelectorAll(sel)) {
    if (e.closest(".bd-sidebar-primary, .bd-sidebar-secondary, .bd-header, header, footer")) {
      continue;
    }
    const r = e.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;  // not displayed
    const ov = getComputedStyle(e).overflowX;
    // Where its content ends: the union of its contents' boxes (text included), which
    // unlike scrollWidth does not count the ink of italic glyphs past their boxes. For math,
    // the typeset formula's box (mjx-math), not MathJax's hidden copy for screen readers.
    const formulas = Array.from(e.querySelectorAll("mjx-math"));
    let contentRight = r.right;
    if (formulas.length) {
      for (const f of formulas) {
        contentRight = Math.max(contentRight, f.getBoundingClientRect().right);
      }
    } else {
      const range = document.createRange();
      range.selectNodeContents(e);
      const content = range.getBoundingClientRect();
      if (content.width > 0) contentRight = Math.max(contentRight, content.right);
    }
    // Its own content wider than a box that hides the rest.
    if ((ov === "hidden" || ov === "clip") && contentRight > r.right + 1) {
      bad.push(`content ${Math.round(contentRight - r.left)}px in a ${Math.round(r.width)}px `
        + `box: ${describe(e)}`);
      continue;
    }
    // A box with its own scrollbar must itself be in view; content that spills out of its
    // box (overflow: visible) must be too. The nearest ancestor that scrolls shows it; one
    // that hides overflow, or the window's right edge, cuts it off.
    const right = scrolls(e) ? r.right : contentRight;
    let a = e.parentElement;
    let cut = null;
    while (a && a !== document.documentElement) {
      if (scrolls(a)) break;
      const ov = getComputedStyle(a).overflowX;
      if (ov === "hidden" || ov === "clip") {
        const ar = a.getBoundingClientRect();
        if (right > ar.right + 1 || r.left < ar.left - 1) cut = a;
        break;
      }
      a = a.parentElement;
    }
    if (cut) {
      bad.push(`cut off by <${cut.tagName.toLowerCase()} class="${cut.className}">: `
        + describe(e));
    } else if ((!a || a === document.documentElement) && right > vw + 1) {
      bad.push(`past the window's right edge (${Math.round(right)} > ${vw}): ${describe(e)}`);
    }
  }
  return {bad: bad, checked: document.querySelectorAll(sel).length,
          pageWider: document.documentElement.scrollWidth > vw + 1};
}
"""


def _open(page, url: str) -> None:  # noqa: ANN001
    """Open ``url`` until its ``load`` event; a redirect page (the site's root), until the
    network is quiet, by when the page it sends the reader to has loaded."""
    with urllib.request.urlopen(url, timeout=30) as response:
        redirect = b'http-equiv="refresh"' in response.read().lower()
    page.goto(url, wait_until="networkidle" if redirect else "load")


def console_problems(browser, base: str, pages: list[str]) -> list[str]:  # noqa: ANN001
    """Console errors, uncaught exceptions and console warnings of the page scripts on each
    page, each opened in a fresh browser context (nothing stored: a first visit)."""
    problems: list[str] = []
    for name in pages:
        context = browser.new_context()
        try:
            page = context.new_page()
            page.on("console", lambda m, n=name: problems.append(f"{n}: console.{m.type}: "
                                                                 f"{m.text}")
                    if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e, n=name: problems.append(f"{n}: uncaught {e}"))
            # "load", not "networkidle": failed and external requests are the offline
            # check's (tests/test_book.py); here the page's scripts run and MathJax typesets
            _open(page, f"{base}/{name}")
            page.evaluate("async () => { if (window.MathJax && MathJax.startup"
                          " && MathJax.startup.promise) await MathJax.startup.promise; }")
            page.wait_for_timeout(200)
        finally:
            context.close()
    return problems


def clipped_elements(browser, base: str, pages: list[str], width: int) -> tuple[int, list[str]]:  # noqa: ANN001,E501
    """(containers checked, descriptions of the ones cut off) over ``pages`` at ``width``."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    bad: list[str] = []
    checked = 0
    try:
        page = context.new_page()
        for name in pages:
            _open(page, f"{base}/{name}")  # _CLIPPED awaits MathJax
            seen = page.evaluate(_CLIPPED)
            checked += seen["checked"]
            bad.extend(f"{name} at {width}px: {b}" for b in seen["bad"])
            if seen["pageWider"]:
                bad.append(f"{name} at {width}px: the page scrolls sideways")
    finally:
        context.close()
    return checked, bad


def _launch(p):  # noqa: ANN001, ANN202
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: run `make system-deps`")
    return p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


@pytest.mark.timeout(TEST_TIMEOUT_S)
def test_no_console_errors_on_first_visit(book: Build, server: str) -> None:  # noqa: F811
    """Every page, opened with nothing stored, logs no error or warning and throws nothing
    (the theme's "Got invalid theme mode" included)."""
    from playwright.sync_api import sync_playwright

    pages = _pages(book.html)
    with sync_playwright() as p:
        browser = _launch(p)
        try:
            problems = console_problems(browser, server, pages)
        finally:
            browser.close()
    assert problems == [], "\n".join(problems)


@pytest.mark.timeout(TEST_TIMEOUT_S)
@pytest.mark.parametrize("width", list(WIDTHS.values()), ids=list(WIDTHS))
def test_nothing_cut_off(book: Build, server: str, width: int) -> None:  # noqa: F811
    """At ``width``, no math, code, output, table or drawing is cut off without a scrollbar,
    and no page scrolls sideways as a whole."""
    from playwright.sync_api import sync_playwright

    pages = _pages(book.html)
    with sync_playwright() as p:
        browser = _launch(p)
        try:
            checked, bad = clipped_elements(browser, server, pages, width)
        finally:
            browser.close()
    assert checked > 0, "no math, code or table found: the check checked nothing"
    assert bad == [], "\n".join(bad)
