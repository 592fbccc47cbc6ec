"""The Chinese edition (中文版): its catalogues against the English pages, the translation checker
itself, and both editions of the built site in Debian's Chromium.

* The catalogue test extracts fresh message templates from the English pages (Sphinx's gettext
  builder, no execution) and runs ``scripts/check_translations.py --pot`` on them: an untranslated
  or fuzzy message, a message of a page that its catalogue lacks (a page edited in English without
  its translation), off-glossary terms or changed markup fail it. ``make translations`` brings the
  catalogues up to date after an edit; the new and fuzzy messages are then translated.
* The checker's own tests plant each kind of fault in a message or a catalogue and see it caught,
  and see a faithful translation pass.
* The browser tests use the site tests/test_book.py builds once per session (English at the root,
  Chinese under ``zh/``): every page links to the same page of the other edition, both ways, with
  ``hreflang`` and the right ``<html lang>``, over HTTP and from ``file://``; offline search finds a
  Chinese term in the Chinese edition and an English term in the English one. Loading every page
  of both editions (no failed or outside request, no console error, nothing clipped at 1280 px and
  390 px) is checked by tests/test_book.py and tests/test_book_reading.py, whose page list covers
  both editions.
"""

from __future__ import annotations

import importlib.util
import posixpath
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from types import ModuleType

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_book import (  # noqa: E402,F401
    CHROMIUM,
    CHROMIUM_ARGS,
    EDITIONS,
    TEST_TIMEOUT_S,
    Build,
    _pages,
    _toc_docnames,
    book,
    server,
)

ROOT = Path(__file__).resolve().parents[1]
#: Each edition: (folder under the site's root, ``<html lang>``).
SITE_EDITIONS = {"en": ("", "en"), **{lang: (folder, lang.replace("_", "-"))
                                      for lang, folder in EDITIONS}}
#: Pages that only redirect (sphinx-external-toc's root ``index.html``, a bare ``<meta>``
#: refresh): no ``<html>`` element, no language links.
REDIRECTS = {"index.html"}


def _checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_translations",
                                                  ROOT / "scripts" / "check_translations.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


ct = _checker()


# ---- the catalogues against the pages ------------------------------------------------------


@pytest.mark.timeout(600)
def test_catalogues_translate_every_message_of_every_page(tmp_path: Path) -> None:
    """Fresh templates from the English pages, then the checker with ``--pot``: every message
    of every page translated, none fuzzy, none missing, markup and terms kept."""
    extract = subprocess.run(
        [sys.executable, str(ROOT / "scripts/build-book.py"), "--execute", "off", "--builder",
         "custom", "--custom-builder", "gettext", "-q", "--path-output", str(tmp_path),
         str(ROOT)],
        cwd=ROOT, capture_output=True, text=True, timeout=540)
    pot = tmp_path / "_build" / "gettext"
    assert extract.returncode == 0, extract.stdout[-3000:] + extract.stderr[-3000:]
    templates = sorted(pot.rglob("*.pot"))
    assert len(templates) >= len(_toc_docnames(ROOT)), "templates missing for some pages"
    check = subprocess.run([sys.executable, str(ROOT / "scripts/check_translations.py"),
                            "--pot", str(pot)], cwd=ROOT, capture_output=True, text=True,
                           timeout=300)
    lines = check.stdout.splitlines()
    assert check.returncode == 0, (
        f"{check.stderr.strip()}; run `make translations`, translate the new and fuzzy "
        "messages (notes in README), then check again. The first 40:\n" + "\n".join(lines[:40]))


# ---- the checker, on planted faults ---------------------------------------------------------

TERMS = [ct.Term(("Group convolution", "grouped convolution"), ("分组卷积",)),
         ct.Term(("Stride",), ("步长",)),
         ct.Term(("Kernel",), ("卷积核",))]
MSGID = ("A grouped convolution with {term}`stride` $s = 2$ (see {doc}`Chapter 5 "
         "<../ch05/index>`, {cite:p}`xie2017aggregated`) calls `conv2d(x, w, groups=g)`; "
         "[the code](../../convlab/functional.py) gives {{ n }}.")
GOOD = ("{term}`步长 <stride>` 为 $s = 2$ 的分组卷积（见 {doc}`第 5 章 <../ch05/index>`，"
        "{cite:p}`xie2017aggregated`）调用 `conv2d(x, w, groups=g)`；"
        "[代码](../../convlab/functional.py)给出 {{ n }}。")


def test_checker_passes_a_faithful_translation() -> None:
    assert ct.check_message(MSGID, GOOD, TERMS) == []


def test_checker_finds_an_untranslated_message() -> None:
    assert ct.check_message(MSGID, "", TERMS) == ["untranslated"]
    assert ct.check_message(MSGID, "  \n", TERMS) == ["untranslated"]


@pytest.mark.parametrize("old, new", [
    ("$s = 2$", "$s=2$"),                                   # math changed
    ("$s = 2$", "s = 2"),                                   # math dropped
    ("<../ch05/index>", "<../ch06/index>"),                 # a role's target changed
    ("{cite:p}`xie2017aggregated`", "{cite}`xie2017aggregated`"),  # another role
    ("`conv2d(x, w, groups=g)`", "`conv2d(x, w)`"),         # inline code changed
    ("(../../convlab/functional.py)", "(functional.py)"),   # a link's target changed
    ("{{ n }}", "n"),                                       # a substitution dropped
    ("`conv2d(x, w, groups=g)`", "`conv2d(x, w, groups=g)` `conv2d(x, w, groups=g)`"),  # twice
])
def test_checker_finds_changed_markup(old: str, new: str) -> None:
    assert old in GOOD
    problems = ct.check_message(MSGID, GOOD.replace(old, new, 1), TERMS)
    assert any(p.startswith("markup differs") for p in problems), problems


def test_checker_finds_an_off_glossary_term() -> None:
    wrong = GOOD.replace("分组卷积", "组卷积")
    problems = ct.check_message(MSGID, wrong, TERMS)
    assert problems == ["term 'Group convolution' not rendered as 分组卷积"], problems
    stride = ct.check_message("The stride $s$.", "跨度 $s$。", TERMS)
    assert stride == ["term 'Stride' not rendered as 步长"], stride
    # "kernel" is one of the words too general to demand a term ("the Jupyter kernel")
    assert ct.check_message("The kernel restarts.", "内核重新启动。", TERMS) == []


def _write_po(path: Path, messages: list[tuple[str, str, bool]]) -> Path:
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import write_po

    catalog = Catalog(locale="zh_CN")
    for msgid, msgstr, fuzzy in messages:
        catalog.add(msgid, msgstr, flags=["fuzzy"] if fuzzy else [])
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        write_po(handle, catalog, width=76)
    return path


def test_checker_finds_a_fuzzy_message(tmp_path: Path) -> None:
    po = _write_po(tmp_path / "page.po", [("The stride $s$.", "步长 $s$。", True),
                                          ("Stride", "步长", False)])
    failures = ct.check_catalog(po, TERMS)
    assert len(failures) == 1 and "fuzzy" in failures[0], failures


def test_checker_compares_with_fresh_templates(tmp_path: Path, monkeypatch,  # noqa: ANN001
                                               capsys) -> None:  # noqa: ANN001
    """With ``--pot``: a message the page gained, one it lost, a page without a catalogue."""
    locale = tmp_path / "locales" / "zh_CN" / "LC_MESSAGES"
    pot = tmp_path / "gettext"
    _write_po(locale / "book" / "a.po", [("Stride", "步长", False),
                                         ("An old sentence.", "旧句子。", False)])
    _write_po(pot / "book" / "a.pot", [("Stride", "", False), ("A new sentence.", "", False)])
    _write_po(pot / "book" / "b.pot", [("Page B", "", False)])
    monkeypatch.setattr(ct, "ROOT", tmp_path)
    monkeypatch.setattr(ct, "LOCALE_DIR", locale)
    monkeypatch.setattr(ct, "catalogs", lambda: sorted(locale.rglob("*.po")))
    failures = ct.check_catalog(locale / "book" / "a.po", TERMS, pot / "book" / "a.pot")
    assert any("lacks" in f and "A new sentence." in f for f in failures), failures
    assert any("no longer has" in f and "An old sentence." in f for f in failures), failures
    assert len(failures) == 2, failures
    assert ct.main(["--pot", str(pot)]) == 1
    assert "b.po: missing catalogue for a page" in capsys.readouterr().out
    assert ct.main([str(locale / "book" / "a.po")]) == 0  # nothing wrong without templates


def test_checker_reads_the_glossary(tmp_path: Path) -> None:
    glossary = tmp_path / "glossary.md"
    glossary.write_text("# Glossary\n\n```{glossary}\n"
                        "Group convolution, grouped convolution (分组卷积)\n  Text.\n\n"
                        "Dilation, atrous rate (空洞率，膨胀率)\n  Text.\n```\n", encoding="utf-8")
    terms = ct.glossary_terms(glossary)
    assert terms == [ct.Term(("Group convolution", "grouped convolution"), ("分组卷积",)),
                     ct.Term(("Dilation", "atrous rate"), ("空洞率", "膨胀率"))]
    book_terms = {zh for term in ct.glossary_terms() for zh in term.chinese}
    assert {"分组卷积", "步长"} <= book_terms, "the book's glossary lost its core terms"


# ---- both editions of the built site --------------------------------------------------------


class _Links(HTMLParser):
    """``<html lang>``, the language links and the head's alternate links of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.lang: str | None = None
        self.nav: list[dict[str, str]] = []
        self.current: list[str] = []
        self.alternates: list[dict[str, str]] = []
        self._in_nav = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "html":
            self.lang = a.get("lang")
        elif tag == "nav" and "convlab-languages" in a.get("class", "").split():
            self._in_nav = True
        elif tag == "a" and self._in_nav:
            self.nav.append(a)
        elif tag == "span" and self._in_nav and "aria-current" in a:
            self.current.append(a.get("lang", ""))
        elif tag == "link" and a.get("rel") == "alternate" and "hreflang" in a:
            self.alternates.append(a)

    def handle_endtag(self, tag: str) -> None:
        if tag == "nav":
            self._in_nav = False


def _edition_of(page: str) -> tuple[str, str]:
    """(language, the page's path inside its edition) of a site path."""
    for lang, (folder, _) in SITE_EDITIONS.items():
        if folder and page.startswith(folder + "/"):
            return lang, page[len(folder) + 1:]
    return "en", page


@pytest.mark.book
@pytest.mark.slow
def test_language_links_resolve_both_ways(book: Build) -> None:  # noqa: F811
    """Every page of each edition: ``<html lang>`` of its edition, and a link (relative, with
    ``hreflang``) to the same page in the other edition, which links back to it."""
    pages = _pages(book.html)
    by_edition: dict[str, set[str]] = {lang: set() for lang in SITE_EDITIONS}
    for page in pages:
        lang, inner = _edition_of(page)
        by_edition[lang].add(inner)
    docs = {f"{d}.html" for d in _toc_docnames(ROOT)}
    for lang, inner in by_edition.items():
        assert docs <= inner, f"{lang}: pages missing {sorted(docs - inner)[:5]}"
    assert by_edition["en"] == by_edition["zh_CN"], "the editions have different pages"
    problems = []
    for page in pages:
        lang, inner = _edition_of(page)
        parsed = _Links()
        parsed.feed((book.html / page).read_text(encoding="utf-8"))
        want_lang = SITE_EDITIONS[lang][1]
        if inner in REDIRECTS:
            continue
        if parsed.lang != want_lang:
            problems.append(f"{page}: <html lang={parsed.lang!r}>, want {want_lang!r}")
        if parsed.current != [want_lang]:
            problems.append(f"{page}: the own edition is not marked current: {parsed.current}")
        others = {o: f for o, f in SITE_EDITIONS.items() if o != lang}
        if len(parsed.nav) != len(others):
            problems.append(f"{page}: {len(parsed.nav)} language links, want {len(others)}")
        for link in parsed.nav:
            href = link.get("href", "")
            other = next((o for o, (_, tag) in SITE_EDITIONS.items()
                          if tag == link.get("hreflang")), None)
            if other is None or other == lang:
                problems.append(f"{page}: language link with hreflang {link.get('hreflang')!r}")
                continue
            if re.match(r"^[a-z]+:|^/", href):
                problems.append(f"{page}: language link not relative: {href}")
                continue
            target = posixpath.normpath(posixpath.join(posixpath.dirname(page), href))
            folder = SITE_EDITIONS[other][0]
            if target != posixpath.join(folder, inner) or not (book.html / target).is_file():
                problems.append(f"{page}: {href} -> {target}, want {posixpath.join(folder, inner)}")
            if not any(a.get("href") == href and a.get("hreflang") == link.get("hreflang")
                       for a in parsed.alternates):
                problems.append(f"{page}: no <link rel=alternate> in the head for {href}")
    assert problems == [], "\n".join(problems[:40])


def _launch(p):  # noqa: ANN001, ANN202
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: run `make system-deps`")
    return p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


@pytest.mark.book
@pytest.mark.slow
@pytest.mark.timeout(TEST_TIMEOUT_S)
@pytest.mark.parametrize("scheme", ["http", "file"])
def test_language_links_work_in_the_browser(book: Build, server: str, scheme: str) -> None:  # noqa: F811
    """Clicking 中文 on an English page opens its Chinese page, and English brings the reader
    back, over HTTP and from the files on disk."""
    from playwright.sync_api import sync_playwright

    base = server if scheme == "http" else book.html.resolve().as_uri()
    with sync_playwright() as p:
        browser = _launch(p)
        try:
            page = browser.new_page()
            for start in ("book/ch02/01-groups.html", "search.html", "book/glossary.html"):
                page.goto(f"{base}/{start}")
                assert page.evaluate("document.documentElement.lang") == "en"
                page.click("nav.convlab-languages a[hreflang='zh-CN']")
                page.wait_for_load_state()
                assert page.url == f"{base}/zh/{start}", page.url
                assert page.evaluate("document.documentElement.lang") == "zh-CN"
                page.click("nav.convlab-languages a[hreflang='en']")
                page.wait_for_load_state()
                assert page.url == f"{base}/{start}", page.url
        finally:
            browser.close()


#: (edition folder, query, a page the results must list): a Chinese glossary term in the
#: Chinese edition, English terms in the English one.
SEARCHES = [
    ("zh", "分组卷积", "book/ch02/"),
    ("zh", "空洞卷积", "book/ch05/"),
    ("", "shuffle", "book/ch02/03-shufflenet.html"),
    ("", "dilation", "book/ch05/"),
]


@pytest.mark.book
@pytest.mark.slow
@pytest.mark.timeout(TEST_TIMEOUT_S)
def test_offline_search_in_both_editions(book: Build, server: str) -> None:  # noqa: F811
    """The search page of each edition finds its term's page, from the site alone."""
    from urllib.parse import quote, urlparse

    from playwright.sync_api import sync_playwright

    outside: list[str] = []
    found: dict[str, list[str]] = {}
    with sync_playwright() as p:
        browser = _launch(p)
        try:
            page = browser.new_page()
            page.on("request", lambda r: outside.append(r.url)
                    if urlparse(r.url).hostname not in (None, "", "127.0.0.1") else None)
            for folder, query, _ in SEARCHES:
                prefix = f"{server}/{folder + '/' if folder else ''}"
                page.goto(f"{prefix}search.html?q={quote(query)}")
                # Sphinx writes the summary line when the search has finished
                page.wait_for_selector("#search-results p.search-summary", timeout=60_000)
                page.wait_for_timeout(300)
                hrefs = page.eval_on_selector_all(
                    "#search-results ul.search li a", "els => els.map(e => e.href)")
                found[f"{folder or 'en'}:{query}"] = [h.removeprefix(prefix) for h in hrefs]
        finally:
            browser.close()
    for folder, query, want in SEARCHES:
        hits = found[f"{folder or 'en'}:{query}"]
        assert any(h.startswith(want) for h in hits), f"{query!r} in {folder or 'en'}: {hits}"
    assert outside == []
