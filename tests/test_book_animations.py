"""The build-made animations on the built book, in Debian's Chromium: the sliding window of
chapter 1 and the stamp scatter and zero insertion of chapter 3, in both editions.

Each is an ``img.convlab-animation`` whose GIF the browser has loaded from the site itself,
with several frames (it moves) and a text alternative.
"""

from __future__ import annotations

import io
import sys
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_book import (  # noqa: E402,F401
    CHROMIUM,
    CHROMIUM_ARGS,
    TEST_TIMEOUT_S,
    Build,
    book,
    server,
)

pytestmark = [pytest.mark.book, pytest.mark.slow]

#: Page (relative to an edition's root) -> how many animations it shows.
ANIMATED = {"book/ch01/01-sliding-window.html": 1, "book/ch03/01-scatter.html": 2}
EDITIONS = {"en": "", "zh": "zh/"}

_IMAGES = """
() => Array.from(document.querySelectorAll("img.convlab-animation")).map(img => ({
  src: img.currentSrc || img.src, alt: img.getAttribute("alt") || "",
  loaded: img.complete && img.naturalWidth > 0,
}))
"""


@pytest.mark.timeout(TEST_TIMEOUT_S)
@pytest.mark.parametrize("edition", list(EDITIONS))
def test_animations_load_and_move(book: Build, server: str, edition: str) -> None:  # noqa: F811
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: run `make system-deps`")
    seen = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            for path in ANIMATED:
                url = f"{server}/{EDITIONS[edition]}{path}"
                assert page.goto(url).ok, url
                page.wait_for_load_state("load")
                seen[path] = page.evaluate(_IMAGES)
        finally:
            browser.close()
    for path, count in ANIMATED.items():
        images = seen[path]
        assert len(images) == count, f"{path}: {len(images)} animations, expected {count}"
        for image in images:
            assert image["loaded"], f"{path}: {image['src']} did not load"
            assert image["src"].startswith(server), f"{path}: {image['src']} is not on the site"
            assert image["alt"].startswith("Animation:"), f"{path}: no text alternative"
            with urllib.request.urlopen(image["src"], timeout=30) as response:
                gif = Image.open(io.BytesIO(response.read()))
            assert gif.format == "GIF" and getattr(gif, "n_frames", 1) > 1, image["src"]
