"""Sphinx extension of the ConvLab book.

* MathJax on every page. Sphinx includes MathJax only on pages that hold math. A page title
  with math (``$C^\\top$``) is also shown in the navigation sidebar of every other page, where
  it would stay raw TeX on a page without math of its own (the bibliography, the index, the
  search page). Asking Sphinx to load the assets on every page typesets it everywhere.
* ``_static/convlab-page.js`` on every page (once): an inline formula wider than its
  paragraph gets its own scrollbar instead of being cut off on a narrow screen.
* The assignments on each chapter's exercises page: the student notebook, the convlab wheel,
  Colab and JupyterHub links (``convlab_assignments``, loaded from here).
* The editions' language links (``convlab_editions`` in ``_config.yml``): every page shows, at
  the top of its content, a link to the same page in each other edition ("English / 中文"),
  relative, so that it works from ``file://`` as well as over HTTP, with ``hreflang``; the
  page's head lists the same pages as ``<link rel="alternate" hreflang=...>``, and ``<html
  lang>`` carries the edition's BCP 47 tag (``zh-CN``, not Sphinx's ``zh_CN``).
* Glued values in translated messages: Sphinx parses each translated message as a little
  document of its own, where myst-nb's ``{glue:text}`` roles would find no glue data ("No key
  ... found in glue data for this document") because myst-nb keeps the page's notebook renderer
  on the page's document only while it parses it. The page's renderer is remembered (per
  document name) and lent to its translated messages, so a glued number shows in every edition.
* Part captions of the table of contents ("Convolutions", "Reference"): sphinx-external-toc
  adds the root page's toctrees after Sphinx has translated the page, so their captions, which
  the root page's catalogue translates, are translated here, where the page is read.
* A translated edition's notebook files: myst-nb writes each page's executed notebook and its
  images to ``jupyter_execute`` beside the HTML folder, which for an edition built into
  ``_build/html/zh`` would be inside the English site; they go to ``_build/jupyter_execute-zh_CN``.
* Chinese search: the Chinese edition's search index is segmented by jieba (Sphinx's Chinese
  search language), which is taught the glossary's Chinese terms as words, so that a term such
  as 分组卷积 is indexed whole and a search for it finds its pages. Sphinx's Chinese indexer
  keeps every Latin word it has met in a list that it searches for each word it stems (a cost
  that grows with the square of the book's size: most of the Chinese build's time); a set with
  the list's ``extend`` does the same in constant time.
* The ``conv-arithmetic-explorer`` directive: a form (input size, kernel size, stride, padding,
  dilation and, for a transposed convolution, output padding) that shows the output size and
  an animated drawing of the window, driven by ``_static/convlab-explorer.js``. The script is
  added only to the pages that hold an explorer, once per page.
"""

from __future__ import annotations

import html
import importlib.util
import posixpath
import sys
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.util.docutils import SphinxDirective

EXPLORER_JS = "convlab-explorer.js"
#: Loaded on every page: gives inline formulas wider than their paragraph a scrollbar.
PAGE_JS = "convlab-page.js"
#: Marks an explorer in the HTML; the script drives every element that carries it.
EXPLORER_ATTR = "data-convlab-explorer"

#: The explorer's fields: (key, visible label, minimum, default). The labels are the ones the
#: reader sees and the browser test fills in; output padding shows for transposed mode only.
EXPLORER_FIELDS: tuple[tuple[str, str, int, int], ...] = (
    ("size", "input size", 1, 5),
    ("kernel", "kernel size", 1, 3),
    ("stride", "stride", 1, 2),
    ("padding", "padding", 0, 1),
    ("dilation", "dilation", 1, 1),
    ("output_padding", "output padding", 0, 0),
)
MODES = ("conv", "transposed")
#: The templates this extension adds (``layout.html``: the language links above the article).
TEMPLATES = Path(__file__).resolve().parent / "templates"
#: The jieba user dictionary written for the Chinese search index, in the doctree folder.
SEARCH_WORDS = "convlab-search-words.txt"


def html_lang(language: str | None) -> str:
    """A Sphinx language (``zh_CN``) as a BCP 47 tag for ``lang``/``hreflang`` (``zh-CN``)."""
    return (language or "en").replace("_", "-")


def language_links(pagename: str, language: str,
                   editions: dict[str, dict[str, str]]) -> list[tuple[str, str, str | None]]:
    """The language links of page ``pagename`` in edition ``language``: one
    ``(language, label, href)`` per edition, in ``editions``' order, ``href`` relative to the
    page (``None`` for the page's own edition).

    ``editions`` maps a Sphinx language to ``{"folder": the edition's folder under the site's
    root ("" for the root), "label": the name shown}``. The page ``book/ch02/01-groups`` of the
    root edition links to ``../../zh/book/ch02/01-groups.html``; that page links back with
    ``../../../book/ch02/01-groups.html``.
    """
    if language not in editions:
        return []
    here = posixpath.join(editions[language].get("folder") or "", pagename)
    links = []
    for lang, edition in editions.items():
        label = str(edition.get("label") or lang)
        if lang == language:
            links.append((lang, label, None))
            continue
        target = posixpath.join(edition.get("folder") or "", pagename + ".html")
        links.append((lang, label, posixpath.relpath(target, posixpath.dirname(here) or ".")))
    return links


def language_links_html(links: list[tuple[str, str, str | None]]) -> str:
    """The links as a small navigation block: the page's own edition as plain text."""
    parts = []
    for lang, label, href in links:
        tag = html_lang(lang)
        if href is None:
            parts.append(f'<span lang="{tag}" aria-current="page">{html.escape(label)}</span>')
        else:
            parts.append(f'<a href="{html.escape(href)}" hreflang="{tag}" lang="{tag}" '
                         f'rel="alternate">{html.escape(label)}</a>')
    return ('<nav class="convlab-languages" aria-label="Language / 语言">'
            + " / ".join(parts) + "</nav>")


#: The notebook renderer of the page last read (see the module's notes).
_PAGE_RENDERERS: dict[str, Any] = {}


def _docname(document: nodes.document) -> str | None:
    env = getattr(document.settings, "env", None)
    return getattr(env, "docname", None)


def _lend_page_renderer_to_messages() -> None:
    """Let ``{glue:...}`` roles in a translated message read the glue data of their page."""
    import myst_nb.ext.glue.directives as glue_directives
    import myst_nb.ext.glue.roles as glue_roles
    import myst_nb.sphinx_ as nb_sphinx

    if getattr(nb_sphinx.load_renderer, "convlab_remembers", False):
        return
    load_renderer = nb_sphinx.load_renderer

    def remembering_load_renderer(name: str) -> Any:
        renderer_class = load_renderer(name)

        def make(mdit_renderer: Any, logger: Any) -> Any:
            renderer = renderer_class(mdit_renderer, logger)
            _PAGE_RENDERERS["last"] = renderer  # one page at a time in each reading process
            return renderer

        return make

    remembering_load_renderer.convlab_remembers = True  # type: ignore[attr-defined]
    nb_sphinx.load_renderer = remembering_load_renderer

    for module in (glue_roles, glue_directives):
        retrieve = module.retrieve_glue_data

        def retrieve_with_page(document: nodes.document, key: str,
                               retrieve: Any = retrieve) -> Any:
            renderer = _PAGE_RENDERERS.get("last")
            if "nb_renderer" in document or renderer is None \
                    or _docname(renderer.renderer.document) != _docname(document):
                return retrieve(document, key)
            document["nb_renderer"] = renderer  # a translated message's own little document
            try:
                return retrieve(document, key)
            finally:
                del document["nb_renderer"]

        module.retrieve_glue_data = retrieve_with_page


def _add_templates(app: Sphinx, config: Config) -> None:
    if str(TEMPLATES) not in config.templates_path:
        config.templates_path.insert(0, str(TEMPLATES))


def _glossary_terms(confdir: Path) -> list[str]:
    """The glossary's Chinese terms, as ``scripts/check_translations.py`` reads them."""
    script = confdir / "scripts" / "check_translations.py"
    glossary = confdir / "book" / "glossary.md"
    if not script.is_file() or not glossary.is_file():
        return []
    spec = importlib.util.spec_from_file_location("convlab_check_translations", script)
    if spec is None or spec.loader is None:
        return []
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return sorted({zh for term in module.glossary_terms(glossary) for zh in term.chinese})


def _edition_output_folder(app: Sphinx) -> None:
    """A translated edition's myst-nb output folder, beside its doctrees (not in the site)."""
    language = app.config.language or "en"
    config = getattr(app.env, "mystnb_config", None)
    if language == "en" or config is None:
        return
    folder = Path(app.doctreedir).parent / f"jupyter_execute-{language}"
    app.env.mystnb_config = config.copy(output_folder=str(folder.resolve()))


def _translate_toctree_captions(app: Sphinx, doctree: nodes.document) -> None:
    """Translate the captions of toctrees inserted after Sphinx's own translation."""
    language = app.config.language or "en"
    toctrees = [n for n in doctree.findall(addnodes.toctree) if n.get("caption")]
    if language == "en" or not toctrees:
        return
    from sphinx.locale import init as init_locale
    from sphinx.util.i18n import docname_to_domain

    domain = docname_to_domain(app.env.docname, app.config.gettext_compact)
    dirs = [str(Path(app.srcdir) / d) for d in app.config.locale_dirs]
    catalog, found = init_locale(dirs, language, domain)
    if not found:
        return
    for node in toctrees:
        translated = catalog.gettext(node["caption"])
        if translated:
            node["caption"] = translated


class _WordSet(set):
    """A set that also takes ``list.extend``: Sphinx's ``SearchChinese.latin_terms``."""

    def extend(self, words: Any) -> None:
        self.update(words)


def _chinese_search_words(app: Sphinx) -> None:
    """For a Chinese edition: the glossary's terms as jieba's user dictionary, and Sphinx's
    Latin-word memory as a set."""
    if app.builder.format != "html" or not (app.config.language or "").startswith("zh"):
        return
    from sphinx.search import zh

    if not isinstance(zh.SearchChinese.latin_terms, _WordSet):
        zh.SearchChinese.latin_terms = _WordSet(zh.SearchChinese.latin_terms)
    words = _glossary_terms(Path(app.confdir))
    if not words:
        return
    path = Path(app.doctreedir) / SEARCH_WORDS
    path.parent.mkdir(parents=True, exist_ok=True)
    # "word frequency": frequent enough that jieba keeps the term whole
    path.write_text("".join(f"{w.replace(' ', '')} 100000\n" for w in words), encoding="utf-8")
    options = dict(app.config.html_search_options or {})
    options["dict"] = str(path)
    app.config.html_search_options = options


def _initial_result(mode: str, values: dict[str, int]) -> str:
    """What the result line says before the script runs: convlab's own answer."""
    from convlab.analysis import conv_output_size, conv_transpose_output_size

    args = (values["size"], values["kernel"], values["stride"], values["padding"])
    try:
        if mode == "conv":
            out = conv_output_size(*args, dilation=values["dilation"])
        else:
            out = conv_transpose_output_size(*args, output_padding=values["output_padding"],
                                             dilation=values["dilation"])
    except ValueError:
        return "These settings give no output."
    return f"output size: {out}"


def explorer_html(prefix: str, mode: str = "conv", values: dict[str, int] | None = None) -> str:
    """The explorer's markup: a form with one labelled number field per argument, the result
    line (``output size: N``), the formula, the drawing and its play/step buttons.

    ``prefix`` makes the element ids unique on the page; ``mode`` is ``"conv"`` or
    ``"transposed"``; ``values`` overrides the fields' defaults.
    """
    if mode not in MODES:
        raise ValueError(f"explorer_html: mode must be one of {MODES}, got {mode!r}")
    chosen = {key: default for key, _, _, default in EXPLORER_FIELDS}
    chosen.update(values or {})
    esc = html.escape
    radios = "".join(
        f'<label><input type="radio" name="{esc(prefix)}-mode" value="{m}"'
        f'{" checked" if m == mode else ""}> {text}</label>'
        for m, text in (("conv", "convolution"), ("transposed", "transposed convolution"))
    )
    fields = []
    for key, text, minimum, _ in EXPLORER_FIELDS:
        fid = f"{prefix}-{key.replace('_', '-')}"
        hidden = " hidden" if key == "output_padding" and mode != "transposed" else ""
        fields.append(
            f'<div class="cx-field" data-field="{key}"{hidden}>'
            f'<label for="{esc(fid)}">{text}</label>'
            f'<input id="{esc(fid)}" name="{key}" type="number" min="{minimum}" step="1" '
            f'inputmode="numeric" value="{int(chosen[key])}"></div>'
        )
    return (
        f'<div class="convlab-explorer" {EXPLORER_ATTR} data-mode="{mode}">'
        '<form class="cx-form" novalidate>'
        f'<fieldset class="cx-mode"><legend>operation</legend>{radios}</fieldset>'
        f'<div class="cx-fields">{"".join(fields)}</div>'
        "</form>"
        f'<p class="cx-result" role="status" aria-live="polite">'
        f"{esc(_initial_result(mode, chosen))}</p>"
        '<p class="cx-formula"></p>'
        '<div class="cx-drawing"><noscript>The drawing needs JavaScript; the output size above '
        "is computed by the book.</noscript></div>"
        '<div class="cx-controls"><button type="button" class="cx-play">pause</button>'
        '<button type="button" class="cx-step">step</button>'
        '<span class="cx-frame"></span></div>'
        "</div>"
    )


class ConvArithmeticExplorer(SphinxDirective):
    """``{conv-arithmetic-explorer}``: the interactive output-size explorer.

    Options: ``mode`` (``conv`` or ``transposed``, the operation shown first) and a starting
    value for each field (``input-size``, ``kernel-size``, ``stride``, ``padding``,
    ``dilation``, ``output-padding``).
    """

    has_content = False
    option_spec = {
        "mode": lambda arg: directives.choice(arg, MODES),
        "input-size": directives.positive_int,
        "kernel-size": directives.positive_int,
        "stride": directives.positive_int,
        "padding": directives.nonnegative_int,
        "dilation": directives.positive_int,
        "output-padding": directives.nonnegative_int,
    }
    _keys = {"input-size": "size", "kernel-size": "kernel", "stride": "stride",
             "padding": "padding", "dilation": "dilation", "output-padding": "output_padding"}

    def run(self) -> list[nodes.Node]:
        count = self.env.temp_data.get("convlab_explorers", 0) + 1
        self.env.temp_data["convlab_explorers"] = count
        values = {self._keys[k]: v for k, v in self.options.items() if k in self._keys}
        markup = explorer_html(f"cx{count}", self.options.get("mode", "conv"), values)
        return [nodes.raw("", markup, format="html")]


def _add_language_links(app: Sphinx, pagename: str, templatename: str,
                        context: dict[str, Any], doctree: nodes.document | None) -> None:
    """The language links (``convlab_languages`` in the template), the alternate pages in the
    head, and ``<html lang>`` as a BCP 47 tag."""
    language = app.config.language or "en"
    context["language"] = html_lang(language)
    links = language_links(pagename, language, dict(app.config.convlab_editions or {}))
    if len(links) < 2:
        return
    context["convlab_languages"] = language_links_html(links)
    alternates = "".join(
        f'<link rel="alternate" hreflang="{html_lang(lang)}" href="{html.escape(href)}">\n'
        for lang, _, href in links if href is not None)
    context["metatags"] = context.get("metatags", "") + alternates


def _add_page_assets(app: Sphinx, pagename: str, templatename: str,
                     context: dict[str, Any], doctree: nodes.document | None) -> None:
    """Load the explorer's script on the pages that hold an explorer, and only there; then
    drop repeated inline scripts.

    Sphinx 7.4 lists an inline script (``add_js_file(None, body=...)``) registered after the
    builder started (sphinx-thebe's and sphinx-togglebutton's ``const``/``var`` settings) twice,
    once as filename ``None`` and once as ``''``; the second ``const THEBE_JS_URL`` throws
    "Identifier has already been declared" on every page.
    """
    if EXPLORER_ATTR in context.get("body", ""):
        app.add_js_file(EXPLORER_JS, loading_method="defer")
    scripts = context.get("script_files")
    if isinstance(scripts, list):
        seen: set[tuple[Any, ...]] = set()
        unique = []
        for js in scripts:
            attrs = getattr(js, "attributes", {})
            key = (getattr(js, "filename", js) or "", getattr(js, "priority", 500),
                   tuple(sorted((k, str(v)) for k, v in attrs.items())))
            if key not in seen:
                seen.add(key)
                unique.append(js)
        scripts[:] = unique


def setup(app: Sphinx) -> dict[str, Any]:
    app.set_html_assets_policy("always")
    app.add_config_value("convlab_editions", {}, "html", types=[dict])
    app.connect("config-inited", _add_templates)
    app.connect("builder-inited", _chinese_search_words)
    app.connect("builder-inited", _edition_output_folder, priority=900)  # after myst-nb's
    app.connect("html-page-context", _add_language_links)
    app.connect("doctree-read", _translate_toctree_captions, priority=400)
    _lend_page_renderer_to_messages()
    app.add_js_file(PAGE_JS, loading_method="defer")
    app.setup_extension("convlab_assignments")
    app.add_directive("conv-arithmetic-explorer", ConvArithmeticExplorer)
    app.connect("html-page-context", _add_page_assets)
    return {"version": "1.2", "parallel_read_safe": True, "parallel_write_safe": True}
