"""Check the Chinese edition's message catalogues against the English pages.

Usage::

    .venv/bin/python scripts/check_translations.py [--pot DIR] [PO_FILE ...]

With no file, every catalogue under ``book/locales/zh_CN/LC_MESSAGES`` is checked. A message
fails when

* it is untranslated (empty ``msgstr``) or marked fuzzy;
* its markup differs from the English: the same roles with the same targets
  (``{doc}`text <target>``` may translate ``text``), the same inline code, the same math
  (``$...$``), the same link targets and the same substitutions ``{{ name }}``, each as many
  times;
* it repeats its English text, and that text is more than a few words of prose;
* it breaks the terminology: the glossary (``book/glossary.md``) pairs every English term with
  its Chinese term(s); where the English prose of a message names a term, the translation must
  use one of that term's Chinese names (one Chinese term per English term, book-wide).

With ``--pot DIR`` (the templates of a fresh ``gettext`` build), a catalogue that lacks a
message of its page, or keeps one the page no longer has, fails too: a page edited in English
without its translation is caught here.

Exit status 0 when every message passes, 1 otherwise; each failure is printed as
``file:line: message``.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
LOCALE_DIR = ROOT / "book" / "locales" / "zh_CN" / "LC_MESSAGES"
GLOSSARY = ROOT / "book" / "glossary.md"

#: English glossary names too general to demand their term wherever the word appears
#: ("kernel" of a Jupyter notebook, "offset" of an index, "filter" as a verb).
AMBIGUOUS = frozenset({"kernel", "filter", "offset", "modulation", "inception v2"})

#: A message may keep its English text when it has at most this many English words (a model's
#: name, a term in the English column of a terms table); longer prose must be translated.
KEEP_WORDS = 4

_ROLE = re.compile(r"\{([\w:+-]+)\}`([^`]*)`")
_CODE = re.compile(r"``([^`]+)``|`([^`]+)`")
_MATH = re.compile(r"\$\$.+?\$\$|\$[^$\n]+\$", re.S)
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_SUBST = re.compile(r"\{\{\s*([^}]+?)\s*\}\}")
_WORD = re.compile(r"[A-Za-z]{2,}")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_TERM = re.compile(r"^(\S.*?)\s+\(([^()]*[\u4e00-\u9fff][^()]*)\)\s*$")


@dataclass(frozen=True)
class Term:
    """One glossary entry: its English names and its Chinese names."""

    english: tuple[str, ...]
    chinese: tuple[str, ...]


def glossary_terms(path: Path = GLOSSARY) -> list[Term]:
    """Parse the glossary's entry lines ``English, alias (中文, 别名)``."""
    terms = []
    in_glossary = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```{glossary}"):
            in_glossary = True
            continue
        if in_glossary and line.startswith("```"):
            break
        if not in_glossary or not line or line.startswith(" "):
            continue
        match = _TERM.match(line)
        if match:
            english = tuple(n.strip() for n in match.group(1).split(",") if n.strip())
            chinese = tuple(n.strip() for n in re.split(r"[,，]", match.group(2)) if n.strip())
            terms.append(Term(english, chinese))
    return terms


def _target(role: str, text: str) -> str:
    match = re.search(r"<([^<>]+)>\s*$", text)
    return f"{role}:{match.group(1) if match else text}"


def markup(text: str) -> Counter[str]:
    """The markup of a message that a translation must keep, as a multiset of tokens."""
    tokens: Counter[str] = Counter()
    for role, body in _ROLE.findall(text):
        tokens[_target(role, body)] += 1
    rest = _ROLE.sub(" ", text)
    for math in _MATH.findall(rest):
        tokens["math:" + math] += 1
    rest = _MATH.sub(" ", rest)
    for double, single in _CODE.findall(rest):
        tokens["code:" + (double or single)] += 1
    for link in _LINK.findall(text):
        tokens["link:" + link] += 1
    for name in _SUBST.findall(text):
        tokens["subst:" + name] += 1
    return tokens


def prose(text: str) -> str:
    """The English words of a message that name terms.

    Roles' targets, code, math, links and quoted or italic titles are removed.
    """
    text = _ROLE.sub(lambda m: " " + re.sub(r"<[^<>]*>\s*$", "", m.group(2)) + " "
                     if m.group(1) in ("doc", "ref", "term") and "<" in m.group(2) else " ", text)
    text = _MATH.sub(" ", text)
    text = _CODE.sub(" ", text)
    text = _LINK.sub("]", text)
    # quoted English (a paper's title or words) and italic titles keep their own wording
    text = re.sub(r'"[^"]*"|“[^”]*”|\*[A-Z][^*]*\*', " ", text)
    return text


def _term_pattern(name: str) -> re.Pattern[str]:
    words = re.escape(name).replace(r"\ ", r"[\s-]+")
    return re.compile(r"(?<![\w-])" + words + r"(?:s|es)?(?![\w-])", re.I)


def named_terms(english: str, terms: Iterable[Term]) -> list[Term]:
    """The glossary terms an English text names, longest names first.

    A name inside a longer one ("group convolution" in "pointwise group convolution") is the
    longer term's, not its own.
    """
    names = sorted(((n, t) for t in terms for n in t.english if n.lower() not in AMBIGUOUS),
                   key=lambda pair: -len(pair[0]))
    found: list[Term] = []
    for name, term in names:
        pattern = _term_pattern(name)
        if pattern.search(english):
            if term not in found:
                found.append(term)
            english = pattern.sub(" ", english)
    return found


def _is_term_name(text: str, terms: Iterable[Term]) -> bool:
    """Whether a text is only a glossary term's English names ("mean intersection over union
    (mIoU)"), as in the English column of a terms table."""
    names = {n.lower() for t in terms for n in t.english}
    parts = [p.strip().lower() for p in re.split(r"[()/,]", text) if p.strip()]
    return bool(parts) and all(p in names or len(_WORD.findall(p)) <= 1 for p in parts)


def check_message(msgid: str, msgstr: str, terms: Iterable[Term]) -> list[str]:
    """The problems of one translated message (empty when it passes)."""
    problems = []
    if not msgstr.strip():
        return ["untranslated"]
    if msgstr == msgid:
        # Kept as it is: a name, a short cell of a bilingual terms table, code or math alone,
        # a quotation in Chinese. A sentence of English prose is not.
        display_math = msgid.startswith("\n") and re.search(r"\\[A-Za-z]+", msgid)
        words = len(_WORD.findall(prose(msgid)))
        chinese = len(_CJK.findall(msgid)) >= words  # the article's own words, quoted
        if not (display_math or chinese or words <= KEEP_WORDS or _is_term_name(msgid, terms)):
            return ["kept in English (the msgstr repeats the English prose)"]
        return []
    want, got = markup(msgid), markup(msgstr)
    if want != got:
        missing = sorted((want - got).elements())
        extra = sorted((got - want).elements())
        problems.append(f"markup differs: missing {missing[:4]} extra {extra[:4]}")
    for term in named_terms(prose(msgid), terms):
        if not any(zh in msgstr for zh in term.chinese):
            wanted = " / ".join(term.chinese)
            problems.append(f"term {term.english[0]!r} not rendered as {wanted}")
    return problems


def check_catalog(path: Path, terms: list[Term], pot: Path | None = None) -> list[str]:
    """Every failure of one ``.po`` file, as ``path:line: text`` lines."""
    with path.open("rb") as handle:
        catalog = read_po(handle)
    rel = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    failures = []
    for message in catalog:
        if not message.id:
            continue
        where = f"{rel}:{message.lineno}"
        if message.fuzzy:
            failures.append(f"{where}: fuzzy (review the translation and remove the flag)")
        for problem in check_message(str(message.id), str(message.string or ""), terms):
            failures.append(f"{where}: {problem}: {str(message.id)[:70]!r}")
    if pot is not None:
        if not pot.exists():
            failures.append(f"{rel}: no such page any more ({pot.name} was not extracted)")
        else:
            with pot.open("rb") as handle:
                template = read_po(handle)
            have = {m.id for m in catalog if m.id}
            need = {m.id for m in template if m.id}
            for msgid in sorted(need - have):
                failures.append(f"{rel}: the page has a message its catalogue lacks: "
                                f"{msgid[:70]!r}")
            for msgid in sorted(have - need):
                failures.append(f"{rel}: the catalogue keeps a message the page no longer has: "
                                f"{msgid[:70]!r}")
    return failures


def catalogs(locale_dir: Path = LOCALE_DIR) -> list[Path]:
    """Every catalogue of the Chinese edition."""
    return sorted(locale_dir.rglob("*.po"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path, help="catalogues to check (default: all)")
    parser.add_argument("--pot", type=Path, help="templates of a fresh gettext build")
    args = parser.parse_args(argv)
    terms = glossary_terms()
    files = [f.resolve() for f in args.files] or catalogs()
    failures = []
    for path in files:
        pot = None
        if args.pot is not None:
            pot = args.pot / path.relative_to(LOCALE_DIR).with_suffix(".pot")
        failures += check_catalog(path, terms, pot)
    if args.pot is not None and not args.files:
        for template in sorted(args.pot.rglob("*.pot")):
            po = LOCALE_DIR / template.relative_to(args.pot).with_suffix(".po")
            if not po.exists():
                failures.append(f"{po.relative_to(ROOT)}: missing catalogue for a page")
    for line in failures:
        print(line)
    total = len(files)
    print(f"{len(failures)} problem(s) in {total} catalogue(s)", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
