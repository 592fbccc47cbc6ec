"""The convolution-arithmetic explorer (book/ch01/01b-arithmetic-explorer.md) in a real browser.

The explorer is plain JavaScript (``book/_static/convlab-explorer.js``) driving the form that
the book's Sphinx extension writes (``explorer_html`` in ``book/_ext/convlab_book.py``). The
tests type a grid of settings into the labelled fields, as a reader would, and compare every
displayed result with ``convlab.analysis.conv_output_size`` / ``conv_transpose_output_size``:
the same number when the relation has one, a sentence (never NaN, never a negative size) when
it raises ``ValueError``.

``test_explorer_sweep`` serves the extension's markup and the static files from 127.0.0.1
without building the book (seconds); ``test_explorer_in_built_book`` opens the page of the
full build that tests/test_book.py makes.
"""

from __future__ import annotations

import functools
import http.server
import itertools
import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from convlab.analysis import conv_output_size, conv_transpose_output_size

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import convlab_book  # noqa: E402
from test_book import CHROMIUM, CHROMIUM_ARGS, Build, book, server  # noqa: E402,F401

pytestmark = [pytest.mark.book]

PAGE = "book/ch01/01b-arithmetic-explorer.html"
LABELS = {key: text for key, text, _, _ in convlab_book.EXPLORER_FIELDS}
#: The grid swept through the form: every combination, impossible ones included.
CONV_GRID = {
    "size": [1, 2, 3, 5, 8],
    "kernel": [1, 2, 3, 5],
    "stride": [1, 2, 3],
    "padding": [0, 1, 2],
    "dilation": [1, 2, 3],
}
TRANSPOSED_GRID = {
    "size": [1, 2, 4],
    "kernel": [1, 2, 3, 4],
    "stride": [1, 2, 3],
    "padding": [0, 1, 2, 4],
    "dilation": [1, 2],
    "output_padding": [0, 1, 2],
}


def expected(mode: str, v: dict[str, int]) -> int | None:
    """convlab's answer for the settings ``v``; None where the relation has no output."""
    try:
        if mode == "conv":
            return conv_output_size(v["size"], v["kernel"], v["stride"], v["padding"],
                                    v["dilation"])
        return conv_transpose_output_size(v["size"], v["kernel"], v["stride"], v["padding"],
                                          v["output_padding"], v["dilation"])
    except ValueError:
        return None


def _launch(p):  # noqa: ANN001, ANN202
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: run `make system-deps`")
    return p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def sweep(page, mode: str, grid: dict[str, list[int]]) -> tuple[int, list[str]]:  # noqa: ANN001
    """Type every combination of ``grid`` into the form; (settings checked, mismatches)."""
    explorer = page.locator("[data-convlab-explorer]").first
    label = "convolution" if mode == "conv" else "transposed convolution"
    explorer.get_by_label(label, exact=True).check()
    result = explorer.locator(".cx-result")
    keys = list(grid)
    shown: dict[str, int] = {}
    bad: list[str] = []
    checked = 0
    for combo in itertools.product(*(grid[k] for k in keys)):
        values = dict(zip(keys, combo, strict=True))
        for key, value in values.items():
            if shown.get(key) != value:
                explorer.get_by_label(LABELS[key], exact=True).fill(str(value))
                shown[key] = value
        text = result.inner_text().strip()
        want = expected(mode, values)
        checked += 1
        if want is not None:
            if text != f"output size: {want}":
                bad.append(f"{mode} {values}: shows {text!r}, convlab says {want}")
        elif (text.startswith("output size") or "NaN" in text
              or re.search(r"(?<!\w)[-\u2212]\d", text) or len(text.split()) < 6):
            bad.append(f"{mode} {values}: convlab raises, the page shows {text!r}")
    return checked, bad


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The extension's explorer markup in a bare page, with the book's script and CSS."""
    site = tmp_path_factory.mktemp("explorer")
    static = ROOT / "book" / "_static"
    for name in ("convlab-explorer.js", "convlab.css"):
        (site / name).write_bytes((static / name).read_bytes())
    (site / "index.html").write_text(
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><link rel='icon' href='data:,'>"
        "<link rel='stylesheet' href='convlab.css'>"
        "<script defer src='convlab-explorer.js'></script></head><body>"
        + convlab_book.explorer_html("cx1") + "</body></html>",
        encoding="utf-8",
    )
    handler = functools.partial(_QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/index.html"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_expected_covers_both_outcomes() -> None:
    """The grids hold settings with an output and settings without one, in both modes."""
    for mode, grid in (("conv", CONV_GRID), ("transposed", TRANSPOSED_GRID)):
        keys = list(grid)
        outcomes = {expected(mode, dict(zip(keys, c, strict=True))) is None
                    for c in itertools.product(*grid.values())}
        assert outcomes == {True, False}, mode


def test_explorer_markup_has_labelled_fields() -> None:
    """Every field has a visible <label for=...>; output padding is hidden in conv mode."""
    markup = convlab_book.explorer_html("cx7")
    for key, text, _, _ in convlab_book.EXPLORER_FIELDS:
        fid = f"cx7-{key.replace('_', '-')}"
        assert f'<label for="{fid}">{text}</label>' in markup
        assert f'id="{fid}"' in markup
    assert 'data-field="output_padding" hidden' in markup
    assert 'data-field="output_padding" hidden' not in convlab_book.explorer_html(
        "cx7", "transposed")
    assert "output size: 3" in markup  # conv_output_size(5, 3, 2, 1) before the script runs
    with pytest.raises(ValueError, match="mode"):
        convlab_book.explorer_html("cx7", "deconv")


@pytest.mark.timeout(600)
def test_explorer_sweep(harness: str) -> None:
    """Every setting of both grids, typed into the form, shows convlab's size or a reason."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = _launch(p)
        try:
            page = browser.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(harness, wait_until="load")
            explorer = page.locator("[data-convlab-explorer]")
            assert not explorer.get_by_label("output padding").is_visible()
            n_conv, bad_conv = sweep(page, "conv", CONV_GRID)
            explorer.get_by_label("transposed convolution").check()
            assert explorer.get_by_label("output padding").is_visible()
            n_t, bad_t = sweep(page, "transposed", TRANSPOSED_GRID)
            # Fields that are not whole numbers get a sentence, not NaN.
            field = explorer.get_by_label("stride", exact=True)
            field.fill("")
            text = explorer.locator(".cx-result").inner_text()
            assert "stride" in text and "whole number" in text and "NaN" not in text
        finally:
            browser.close()
    assert n_conv == 540 and n_t == 864
    assert bad_conv + bad_t == [], "\n".join((bad_conv + bad_t)[:40])
    assert errors == []


@pytest.mark.timeout(120)
def test_explorer_animates(harness: str) -> None:
    """The drawing steps through the window's positions: taps marked, frame counter moves."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = _launch(p)
        try:
            page = browser.new_page()
            page.goto(harness, wait_until="load")
            svg = page.locator(".cx-svg")
            explorer = page.locator("[data-convlab-explorer]")
            # 5 input, k 3, s 2, p 1: a 7x7 padded input, 3x3 output, 9 window positions.
            assert page.locator(".cx-svg .cx-pad").count() == 7 * 7 - 5 * 5
            assert page.locator(".cx-svg .cx-tap").count() == 9
            assert page.locator(".cx-svg .cx-here").count() == 1
            first = svg.get_attribute("data-frame")
            page.wait_for_function(
                f"document.querySelector('.cx-svg').getAttribute('data-frame') !== '{first}'",
                timeout=5000)
            explorer.get_by_role("button", name="pause").click()
            frame = svg.get_attribute("data-frame")
            page.wait_for_timeout(1600)
            assert svg.get_attribute("data-frame") == frame, "pause stops the animation"
            explorer.get_by_role("button", name="step").click()
            assert svg.get_attribute("data-frame") == str((int(frame) + 1) % 9)
            assert "step" in explorer.locator(".cx-frame").inner_text()
            # Transposed: 3 input, k 3, s 2, p 1 -> a 7-pixel canvas, 1 cropped each side.
            explorer.get_by_label("transposed convolution").check()
            explorer.get_by_label("input size", exact=True).fill("3")
            assert explorer.locator(".cx-result").inner_text() == "output size: 5"
            assert page.locator(".cx-svg .cx-crop").count() == 7 * 7 - 5 * 5
            assert page.locator(".cx-svg .cx-tap").count() == 9
            # An impossible setting removes the drawing and disables the buttons.
            explorer.get_by_label("kernel size", exact=True).fill("9")
            explorer.get_by_label("convolution", exact=True).check()
            assert page.locator(".cx-svg").count() == 0
            assert explorer.get_by_role("button", name="step").is_disabled()
        finally:
            browser.close()


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_explorer_in_built_book(book: Build, server: str) -> None:  # noqa: F811
    """In the built book: the page loads its script once, from 127.0.0.1, with no console
    error; a smaller grid through its form agrees with convlab."""
    from playwright.sync_api import sync_playwright

    html = (book.html / PAGE).read_text(encoding="utf-8")
    assert html.count("convlab-explorer.js") == 1
    other = (book.html / "book/ch01/01-sliding-window.html").read_text(encoding="utf-8")
    assert "convlab-explorer.js" not in other, "the script loads only where an explorer is"
    errors: list[str] = []
    outside: list[str] = []
    with sync_playwright() as p:
        browser = _launch(p)
        try:
            page = browser.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: outside.append(r.url)
                    if urlparse(r.url).hostname not in (None, "127.0.0.1")
                    and urlparse(r.url).scheme != "data" else None)
            page.goto(f"{server}/{PAGE}", wait_until="networkidle")
            small = {"size": [3, 6], "kernel": [1, 3, 7], "stride": [1, 2], "padding": [0, 2],
                     "dilation": [1, 2], "output_padding": [0, 1, 2]}
            n_conv, bad_conv = sweep(page, "conv",
                                     {k: v for k, v in small.items() if k != "output_padding"})
            n_t, bad_t = sweep(page, "transposed", small)
        finally:
            browser.close()
    assert (n_conv, n_t) == (48, 144)
    assert bad_conv + bad_t == [], "\n".join(bad_conv + bad_t)
    assert errors == [] and outside == []
