"""The assignments in the published book: student notebooks, the convlab wheel, launch links.

Each chapter's *summary and exercises* page (``book/chNN/*summary-and-exercises``, or any page
with the ``{assignment-links} chNN`` directive) gets a box at the start of its "Exercises"
section with

* a download link to the chapter's **student notebook** (the nbgrader student edition, from
  ``release/chNN/<name>.ipynb`` when ``make release`` wrote it from the current source, else
  generated for the build by ``nbgrader generate_assignment``), published at
  ``assignments/chNN/<name>.ipynb``;
* a download link to the **convlab wheel**, built from this checkout by ``pip wheel`` and
  published at ``assignments/convlab-<version>-py3-none-any.whl``;
* an **Open in Colab** link and an **Open on JupyterHub** link (nbgitpuller), only when the
  settings below name where the published site lives; with them empty, no such link appears.

The published notebook starts with an install cell (:func:`install_cell_source`): when
``convlab`` is not importable (Colab, a bare JupyterHub) it installs the wheel — saved next to
the notebook, else from the site (``convlab_site_url``) — and any missing dependency, then
imports it. Settings (``sphinx: config:`` in ``_config.yml``), all empty by default:

``convlab_site_url``
    The address the built site is served from, e.g. ``https://ORG.github.io/convlab/``.
``convlab_launch_repository``
    The GitHub repository whose branch holds the published site (GitHub Pages), e.g.
    ``https://github.com/ORG/convlab``; Colab and JupyterHub open the notebook from there.
``convlab_launch_branch``, ``convlab_launch_path``
    That branch (default ``gh-pages``) and the site's folder in it (default: its root).
``convlab_jupyterhub_url``
    The course's JupyterHub, e.g. ``https://hub.example.edu`` (needs nbgitpuller there).
"""

from __future__ import annotations

import copy
import json
import os
import posixpath
import re
import shutil
import subprocess
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlparse

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

#: Where the build publishes the notebooks and the wheel, relative to the site's root.
ASSIGNMENTS_DIR = "assignments"
#: The summary pages that get the links without a directive: book/chNN/…summary-and-exercises.
SUMMARY_PAGE = re.compile(r"^book/(ch\d\d)/[^/]*summary-and-exercises$")
#: Marks the install cell in a published notebook (cell metadata "tags").
INSTALL_TAG = "convlab-install"
NBGRADER_TIMEOUT_S = 600


class assignment_links(nodes.General, nodes.Element):  # noqa: N801 (docutils node naming)
    """Placeholder for a chapter's assignment box; filled in when the page is resolved."""


class AssignmentLinks(SphinxDirective):
    """``{assignment-links} chNN``: the chapter's assignment box, here instead of at the
    start of the page's "Exercises" section."""

    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        chapter = self.arguments[0].strip()
        if not re.fullmatch(r"ch\d\d", chapter):
            raise self.error(f"assignment-links: the argument must be a chapter id such as "
                             f"ch01, got {chapter!r}")
        return [assignment_links(chapter=chapter)]


# ---- settings and links -------------------------------------------------------------------


def wheel_name(root: Path) -> str:
    """The wheel ``pip wheel`` builds from ``root/pyproject.toml``: ``convlab-<v>-py3-none-any``."""
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    name = re.sub(r"[-_.]+", "_", project["name"]).lower()
    return f"{name}-{project['version']}-py3-none-any.whl"


def _github(repository: str) -> tuple[str, str] | None:
    """(owner, repo) of a ``https://github.com/OWNER/REPO`` address, else None."""
    url = urlparse(repository.strip())
    parts = [p for p in url.path.split("/") if p]
    if url.scheme != "https" or url.netloc != "github.com" or len(parts) != 2:
        return None
    return parts[0], parts[1].removesuffix(".git")


def launch_links(config: Any, site_path: str) -> dict[str, str]:
    """The launch links for the published file at ``site_path`` (relative to the site root):
    ``{"colab": ..., "jupyterhub": ...}``, each only when the settings allow it."""
    links: dict[str, str] = {}
    repository = (config.convlab_launch_repository or "").strip()
    gh = _github(repository)
    if not gh:
        return links
    branch = (config.convlab_launch_branch or "gh-pages").strip()
    in_repo = posixpath.join((config.convlab_launch_path or "").strip("/"), site_path)
    links["colab"] = (f"https://colab.research.google.com/github/{gh[0]}/{gh[1]}/blob/"
                      f"{quote(branch)}/{quote(in_repo)}")
    hub = (config.convlab_jupyterhub_url or "").strip().rstrip("/")
    if urlparse(hub).scheme in ("http", "https"):
        query = urlencode({"repo": f"https://github.com/{gh[0]}/{gh[1]}", "branch": branch,
                           "urlpath": f"lab/tree/{gh[1]}/{in_repo}"})
        links["jupyterhub"] = f"{hub}/hub/user-redirect/git-pull?{query}"
    return links


def wheel_url(config: Any, wheel: str) -> str:
    """The wheel's address on the published site, or ``""`` when the site URL is not set."""
    site = (config.convlab_site_url or "").strip()
    if urlparse(site).scheme not in ("http", "https"):
        return ""
    return site.rstrip("/") + f"/{ASSIGNMENTS_DIR}/{wheel}"


# ---- the published notebook ---------------------------------------------------------------


def install_cell_source(wheel: str, url: str) -> str:
    """The first cell of a published student notebook: installs convlab where it is missing.

    In order: nothing when ``convlab`` imports; else the wheel ``wheel`` saved next to the
    notebook, else ``url`` (the site's copy; ``""`` when the site's address is not configured);
    installed with ``--no-deps``, then only the dependencies that are not installed at all (a
    hosted Jupyter's own torch and numpy are kept). Then it imports convlab.
    """
    return f'''# Installs convlab where it is missing (Colab, a JupyterHub), then imports it.
import importlib.util
import pathlib
import subprocess
import sys

if importlib.util.find_spec("convlab") is None:
    from importlib import metadata

    wheel = pathlib.Path("{wheel}")
    source = str(wheel) if wheel.is_file() else "{url}"
    if not source:
        raise ModuleNotFoundError(
            "convlab is not installed: download {wheel} from the book's exercises page, "
            "save it next to this notebook and run this cell again")
    pip = [sys.executable, "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--no-deps", source], check=True)
    missing = []
    for requirement in metadata.requires("convlab") or []:
        if "extra ==" in requirement:
            continue
        name = requirement.split(";")[0].strip()
        try:
            metadata.version(name.split("=")[0].split("<")[0].split(">")[0].strip())
        except metadata.PackageNotFoundError:
            missing.append(name)
    if missing:
        subprocess.run([*pip, *missing], check=True)
    importlib.invalidate_caches()

import convlab

print("convlab", convlab.__version__)
'''


def publish_notebook(source: Path, dest: Path, wheel: str, url: str) -> None:
    """Write the student notebook ``source`` to ``dest`` with the install cell first."""
    nb = json.loads(source.read_text(encoding="utf-8"))
    cells = [c for c in nb.get("cells", [])
             if INSTALL_TAG not in c.get("metadata", {}).get("tags", [])]
    cell = {"cell_type": "code", "execution_count": None, "id": "convlab-install",
            "metadata": {"tags": [INSTALL_TAG]}, "outputs": [],
            "source": install_cell_source(wheel, url).splitlines(keepends=True)}
    if nb.get("nbformat", 4) == 4 and nb.get("nbformat_minor", 0) < 5:
        cell.pop("id")
    first_code = next((i for i, c in enumerate(cells) if c.get("cell_type") == "code"),
                      len(cells))
    nb = copy.deepcopy(nb)
    nb["cells"] = cells[:first_code] + [cell] + cells[first_code:]
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


# ---- build steps --------------------------------------------------------------------------


def _chapters(root: Path) -> dict[str, str]:
    """{chapter id: notebook file name} of the chapters whose instructor notebook exists."""
    try:
        from convlab.exercises.registry import CHAPTERS
    except ImportError:
        return {}
    return {cid: ch.notebook for cid, ch in CHAPTERS.items()
            if (root / "notebooks" / cid / ch.notebook).is_file()}


def _student_editions(app: Sphinx) -> None:
    """Find or make each chapter's student edition, and build the wheel (html builders)."""
    if app.builder.format != "html":
        return
    root = Path(app.confdir)
    work = Path(app.doctreedir).parent / "convlab-assignments"
    state: dict[str, Any] = {"root": root, "work": work, "notebooks": {}, "wheel": None}
    app.convlab_assignments = state  # type: ignore[attr-defined]
    chapters = _chapters(root)
    if not chapters:
        return
    env = {**os.environ,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    stale = {}
    out = work / "release"
    for cid, name in chapters.items():
        source = root / "notebooks" / cid / name
        released = root / "release" / cid / name
        made = out / cid / name  # by an earlier build (the other edition's, a rebuild)
        if released.is_file() and released.stat().st_mtime >= source.stat().st_mtime:
            state["notebooks"][cid] = released
        elif made.is_file() and made.stat().st_mtime >= source.stat().st_mtime:
            state["notebooks"][cid] = made
        else:
            stale[cid] = name
    if (work / "gradebook.db").is_file():
        (work / "gradebook.db").unlink()

    def generate(cid: str) -> tuple[int, str]:
        cmd = [str(Path(sys.executable).with_name("nbgrader")), "generate_assignment", cid,
               "--force", f"--CourseDirectory.root={root}",
               "--CourseDirectory.source_directory=notebooks",
               f"--CourseDirectory.release_directory={out}",
               f"--CourseDirectory.db_url=sqlite:///{work / 'gradebook.db'}"]
        done = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True,
                              timeout=NBGRADER_TIMEOUT_S)
        return done.returncode, done.stdout + done.stderr

    # The wheel is built from a copy of the package's sources, so that setuptools' build
    # folders never appear in the checkout.
    # A wheel newer than every file it is built from is reused.
    src = work / "wheel-src"
    wheel_dir = work / "wheel"
    inputs = [root / n for n in ("pyproject.toml", "README.md", "LICENSE")] + [
        f for package in ("convlab", "autograder") for f in (root / package).rglob("*")
        if f.is_file() and "__pycache__" not in f.parts and ".egg-info" not in str(f)]
    built = wheel_dir / wheel_name(root)
    wheel_job = None
    if not built.is_file() or built.stat().st_mtime < max(
            f.stat().st_mtime for f in inputs if f.is_file()):
        for folder in (src, wheel_dir):
            shutil.rmtree(folder, ignore_errors=True)
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
        for package in ("convlab", "autograder"):
            shutil.copytree(root / package, src / package, ignore=ignore)
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            if (root / name).is_file():
                shutil.copy2(root / name, src / name)
        wheel_job = subprocess.Popen(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
             "--no-build-isolation", "--wheel-dir", str(wheel_dir), "."],
            cwd=src, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    results: dict[str, tuple[int, str]] = {}
    if stale:
        work.mkdir(parents=True, exist_ok=True)
        first, *rest = stale
        results[first] = generate(first)  # creates the gradebook the others then share
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            results.update(zip(rest, pool.map(generate, rest), strict=True))
    for cid, (returncode, output) in results.items():
        path = out / cid / stale[cid]
        if returncode != 0 or not path.is_file():
            logger.warning("assignments: nbgrader generate_assignment %s failed:\n%s", cid,
                           output[-3000:], type="convlab", subtype="assignments")
            continue
        state["notebooks"][cid] = path
    output, returncode = "", 0
    if wheel_job is not None:
        output, _ = wheel_job.communicate(timeout=NBGRADER_TIMEOUT_S)
        returncode = wheel_job.returncode
    wheel = wheel_dir / wheel_name(root)
    if returncode != 0 or not wheel.is_file():
        logger.warning("assignments: pip wheel failed:\n%s", output[-3000:], type="convlab",
                       subtype="assignments")
    else:
        state["wheel"] = wheel


def _box(app: Sphinx, docname: str, chapter: str) -> nodes.Node | None:
    """The assignment box of ``chapter`` on page ``docname``, or None (no notebook)."""
    state = getattr(app, "convlab_assignments", None)
    if not state or chapter not in state["notebooks"]:
        return None
    name = state["notebooks"][chapter].name
    here = posixpath.dirname(docname)
    nb_path = f"{ASSIGNMENTS_DIR}/{chapter}/{name}"
    box = nodes.container(classes=["convlab-assignment"])
    box += nodes.paragraph("", "", nodes.strong("", "The assignment, to run yourself"))
    items = nodes.bullet_list()

    def item(*children: nodes.Node) -> None:
        items.append(nodes.list_item("", nodes.paragraph("", "", *children)))

    def link(text: str, uri: str, download: bool = False, cls: str = "") -> nodes.reference:
        classes = [c for c in ("convlab-download" if download else "", cls) if c]
        return nodes.reference("", "", nodes.literal("", text) if download else
                               nodes.Text(text), refuri=uri, classes=classes)

    item(nodes.Text("Student notebook: "),
         link(name, posixpath.relpath(nb_path, here), download=True),
         nodes.Text(" — its first cell installs convlab where it is missing."))
    if state["wheel"] is not None:
        wheel = state["wheel"].name
        item(nodes.Text("The convlab package: "),
             link(wheel, posixpath.relpath(f"{ASSIGNMENTS_DIR}/{wheel}", here), download=True),
             nodes.Text(" (for a Jupyter without network access: save it next to the "
                        "notebook)."))
    launch = launch_links(app.config, nb_path)
    if "colab" in launch:
        item(link("Open in Colab", launch["colab"], cls="convlab-launch-colab"))
    if "jupyterhub" in launch:
        item(link("Open on the course's JupyterHub", launch["jupyterhub"],
                  cls="convlab-launch-jupyterhub"))
    box += items
    return box


def _place_boxes(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    placeholders = list(doctree.findall(assignment_links))
    if not placeholders:
        match = SUMMARY_PAGE.match(docname)
        if match:
            chapter = match.group(1)
            section = next((s for s in doctree.findall(nodes.section)
                            if "exercises" in s["ids"]
                            or s.next_node(nodes.title).astext().strip() == "Exercises"),
                           None)
            placeholder = assignment_links(chapter=chapter)
            if section is not None:
                section.insert(1, placeholder)  # right after the section's title
            else:
                doctree.append(placeholder)
            placeholders = [placeholder]
    for node in placeholders:
        box = _box(app, docname, node["chapter"])
        if box is None:
            node.parent.remove(node)
        else:
            node.replace_self(box)


def _publish(app: Sphinx, exception: Exception | None) -> None:
    """Copy the student notebooks (with the install cell) and the wheel into the site."""
    state = getattr(app, "convlab_assignments", None)
    if exception is not None or not state:
        return
    out = Path(app.outdir) / ASSIGNMENTS_DIR
    wheel = state["wheel"]
    wheel_file = wheel.name if wheel is not None else wheel_name(state["root"])
    url = wheel_url(app.config, wheel_file) if wheel is not None else ""
    for chapter, source in state["notebooks"].items():
        publish_notebook(source, out / chapter / source.name, wheel_file, url)
    if wheel is not None:
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy2(wheel, out / wheel.name)


def setup(app: Sphinx) -> dict[str, Any]:
    for name, default in (("convlab_site_url", ""), ("convlab_launch_repository", ""),
                          ("convlab_launch_branch", "gh-pages"), ("convlab_launch_path", ""),
                          ("convlab_jupyterhub_url", "")):
        app.add_config_value(name, default, "html", types=[str])
    app.add_node(assignment_links)
    app.add_directive("assignment-links", AssignmentLinks)
    app.connect("builder-inited", _student_editions)
    app.connect("doctree-resolved", _place_boxes)
    app.connect("build-finished", _publish)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
