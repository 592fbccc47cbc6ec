"""Sphinx extension of the ConvLab book: load the page assets (MathJax) on every page.

Sphinx includes MathJax only on pages that hold math. A page title with math (``$C^\\top$``)
is also shown in the navigation sidebar of every other page, where it would stay raw TeX on a
page without math of its own (the bibliography, the index, the search page). Asking Sphinx to
load the assets on every page typesets it everywhere.
"""

from __future__ import annotations

from typing import Any

from sphinx.application import Sphinx


def setup(app: Sphinx) -> dict[str, Any]:
    app.set_html_assets_policy("always")
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
