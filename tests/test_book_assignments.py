"""The assignments in the published book (book/_ext/convlab_assignments.py).

* Each chapter's exercises page offers the student notebook and the convlab wheel, both
  published with the site and both resolving; Colab and JupyterHub links appear only when
  ``_config.yml`` says where the site is published (a small build with the settings filled in
  checks them), and never as dead links with the settings empty (the full build).
* The learner's path: a fresh virtual environment that does not have convlab (it sees the
  project's third-party packages, Jupyter and torch among them, as Colab's preinstalled stack),
  the student notebook downloaded from the site served on 127.0.0.1, its install cell pointed at
  the served wheel; every cell runs, the visible checks say "not implemented yet", and nothing
  fails to import.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, urljoin, urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import convlab_assignments as ca  # noqa: E402
from test_book import Build, _build, book, server  # noqa: E402,F401

import convlab  # noqa: E402
from convlab.exercises.registry import CHAPTERS  # noqa: E402

WHEEL = f"convlab-{convlab.__version__}-py3-none-any.whl"


def _config(**settings: str) -> SimpleNamespace:
    base = {"convlab_site_url": "", "convlab_launch_repository": "",
            "convlab_launch_branch": "gh-pages", "convlab_launch_path": "",
            "convlab_jupyterhub_url": ""}
    return SimpleNamespace(**{**base, **settings})


# ---- the pieces, without a build -----------------------------------------------------------


def test_no_launch_link_without_settings() -> None:
    assert ca.launch_links(_config(), "assignments/ch01/a.ipynb") == {}
    # A hub alone cannot open anything: it needs the repository that holds the site.
    assert ca.launch_links(_config(convlab_jupyterhub_url="https://hub.example.edu"),
                           "assignments/ch01/a.ipynb") == {}
    # Colab opens notebooks from GitHub only.
    assert ca.launch_links(_config(convlab_launch_repository="https://gitlab.com/o/r"),
                           "assignments/ch01/a.ipynb") == {}
    assert ca.wheel_url(_config(), WHEEL) == ""


def test_launch_links_from_settings() -> None:
    cfg = _config(convlab_launch_repository="https://github.com/org/convlab",
                  convlab_launch_path="site/", convlab_jupyterhub_url="https://hub.example.edu/",
                  convlab_site_url="https://org.github.io/convlab/")
    links = ca.launch_links(cfg, "assignments/ch01/vanilla_convolution.ipynb")
    assert links["colab"] == ("https://colab.research.google.com/github/org/convlab/blob/"
                              "gh-pages/site/assignments/ch01/vanilla_convolution.ipynb")
    hub = urlparse(links["jupyterhub"])
    assert (hub.scheme, hub.netloc, hub.path) == ("https", "hub.example.edu",
                                                  "/hub/user-redirect/git-pull")
    query = parse_qs(hub.query)
    assert query == {"repo": ["https://github.com/org/convlab"], "branch": ["gh-pages"],
                     "urlpath": ["lab/tree/convlab/site/assignments/ch01/"
                                 "vanilla_convolution.ipynb"]}
    assert ca.wheel_url(cfg, WHEEL) == f"https://org.github.io/convlab/assignments/{WHEEL}"


def test_wheel_name_follows_pyproject() -> None:
    assert ca.wheel_name(ROOT) == WHEEL


def _notebook(*sources: tuple[str, str]) -> dict:
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
            "cells": [{"cell_type": kind, "id": f"c{i}", "metadata": {}, "source": text,
                       **({"outputs": [], "execution_count": None} if kind == "code" else {})}
                      for i, (kind, text) in enumerate(sources)]}


def test_published_notebook_starts_with_one_install_cell(tmp_path: Path) -> None:
    src = tmp_path / "a.ipynb"
    src.write_text(json.dumps(_notebook(("markdown", "# A"), ("code", "import torch"))))
    out = tmp_path / "site" / "a.ipynb"
    ca.publish_notebook(src, out, WHEEL, "http://127.0.0.1:1/assignments/" + WHEEL)
    again = tmp_path / "site" / "b.ipynb"
    ca.publish_notebook(out, again, WHEEL, "")  # republishing replaces, never duplicates
    for path, url in ((out, "http://127.0.0.1:1/assignments/"), (again, None)):
        nb = json.loads(path.read_text())
        kinds = [c["cell_type"] for c in nb["cells"]]
        assert kinds == ["markdown", "code", "code"]
        install = nb["cells"][1]
        assert install["metadata"]["tags"] == [ca.INSTALL_TAG]
        text = "".join(install["source"])
        ast.parse(text)
        assert f'pathlib.Path("{WHEEL}")' in text
        if url:
            assert url + WHEEL in text
        assert "".join(nb["cells"][2]["source"]) == "import torch"


def test_install_cell_without_site_or_wheel_says_what_to_do(tmp_path: Path) -> None:
    """convlab missing, no wheel beside the notebook, no site configured: a clear error."""
    pretend_missing = ("import importlib.util as u\n_find = u.find_spec\n"
                       "u.find_spec = lambda n, *a: None if n == 'convlab' else _find(n, *a)\n")
    done = subprocess.run([sys.executable, "-c",
                           pretend_missing + ca.install_cell_source(WHEEL, "")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "ModuleNotFoundError" in done.stderr and WHEEL in done.stderr
    assert "pip" not in done.stdout


def test_install_cell_does_nothing_where_convlab_imports(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", ca.install_cell_source(WHEEL, "")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"convlab {convlab.__version__}"


# ---- the full build (settings empty) -------------------------------------------------------


def _summary_pages(html: Path) -> dict[str, Path]:
    pages = {}
    for cid in CHAPTERS:
        found = sorted((html / "book" / cid).glob("*summary-and-exercises.html"))
        if found and (ROOT / "notebooks" / cid / CHAPTERS[cid].notebook).is_file():
            pages[cid] = found[0]
    return pages


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (127.0.0.1 only)
        assert response.status == 200, url
        return response.read()


@pytest.mark.book
@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_exercises_pages_offer_the_assignment(book: Build, server: str) -> None:  # noqa: F811
    settings = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]["config"]
    assert not settings["convlab_launch_repository"] and not settings["convlab_site_url"], \
        "this test checks the book as configured in the repository: settings empty"
    pages = _summary_pages(book.html)
    assert pages, "no chapter has both an exercises page and a notebook"
    for cid, page in pages.items():
        html = page.read_text(encoding="utf-8")
        assert 'class="convlab-assignment' in html, page
        hrefs = re.findall(r'<a class="convlab-download[^"]*" href="([^"]+)"', html)
        assert len(hrefs) == 2, (page, hrefs)
        rel = str(page.relative_to(book.html))
        nb_url, wheel_url = (urljoin(f"{server}/{rel}", h) for h in hrefs)
        nb = json.loads(_get(nb_url))
        assert nb_url.endswith(f"/assignments/{cid}/{CHAPTERS[cid].notebook}")
        first_code = next(c for c in nb["cells"] if c["cell_type"] == "code")
        assert ca.INSTALL_TAG in first_code["metadata"]["tags"]
        text = json.dumps(nb)
        assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
        wheel = _get(wheel_url)
        assert wheel_url.endswith(WHEEL)
        with zipfile.ZipFile(__import__("io").BytesIO(wheel)) as zf:
            assert "convlab/__init__.py" in zf.namelist()
    for path in book.html.rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        assert "colab.research.google.com" not in text and "git-pull" not in text, path


# ---- a small build with the settings filled in ---------------------------------------------


@pytest.mark.book
@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_configured_site_gets_launch_links(tmp_path: Path) -> None:
    """A one-page book with the settings set: Colab and JupyterHub links on the exercises
    page, pointing at the notebook's path in the published site; the notebook's install cell
    points at the site's wheel."""
    cid = "ch01"
    name = CHAPTERS[cid].notebook
    src = tmp_path / "book-src"
    (src / "book" / cid).mkdir(parents=True)
    for entry in ("convlab", "autograder", "pyproject.toml", "README.md", "scripts"):
        (src / entry).symlink_to(ROOT / entry)
    shutil.copytree(ROOT / "book" / "_ext", src / "book" / "_ext")
    (src / "book" / "_static").mkdir()
    for f in (ROOT / "book" / "_static").glob("*.*"):
        shutil.copy(f, src / "book" / "_static" / f.name)
    (src / "book" / "_static" / "mathjax").symlink_to(ROOT / "book" / "_static" / "mathjax")
    shutil.copytree(ROOT / "book" / "_extra", src / "book" / "_extra")
    (src / "book" / "references.bib").write_text("")
    # A notebook pair the extension takes as an up-to-date student edition (no nbgrader run).
    for folder in ("notebooks", "release"):
        (src / folder / cid).mkdir(parents=True)
        (src / folder / cid / name).write_text(json.dumps(_notebook(
            ("markdown", "# Assignment"), ("code", "import convlab"))))
    os.utime(src / "notebooks" / cid / name, (1, 1))
    (src / "book" / cid / "07-summary-and-exercises.md").write_text(
        "# Summary and exercises\n\n## Summary\n\nText.\n\n## Exercises\n\nThe exercises.\n")
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["sphinx"]["config"].update(
        convlab_site_url="https://org.github.io/convlab/",
        convlab_launch_repository="https://github.com/org/convlab",
        convlab_jupyterhub_url="https://hub.example.edu")
    (src / "_config.yml").write_text(yaml.safe_dump(config, allow_unicode=True))
    (src / "_toc.yml").write_text(f"format: jb-book\nroot: book/{cid}/07-summary-and-exercises\n")
    result = _build(src, tmp_path / "out")
    html_root = tmp_path / "out" / "_build" / "html"
    assert result["returncode"] == 0, result["log"][-5000:]
    page = (html_root / "book" / cid / "07-summary-and-exercises.html").read_text()
    colab = re.findall(r'class="convlab-launch-colab[^"]*" href="([^"]+)"', page)
    hub = re.findall(r'class="convlab-launch-jupyterhub[^"]*" href="([^"]+)"', page)
    prefix = "https://colab.research.google.com/github/org/convlab/blob/gh-pages/"
    assert len(colab) == 1 and colab[0].startswith(prefix), colab
    assert (html_root / colab[0][len(prefix):]).is_file(), "Colab opens a published file"
    query = parse_qs(urlparse(hub[0].replace("&amp;", "&")).query)
    assert (html_root / query["urlpath"][0].removeprefix("lab/tree/convlab/")).is_file()
    nb = json.loads((html_root / "assignments" / cid / name).read_text())
    assert f"https://org.github.io/convlab/assignments/{WHEEL}" in json.dumps(nb)
    assert (html_root / "assignments" / WHEEL).is_file()


# ---- the learner's path --------------------------------------------------------------------

_RUN_NOTEBOOK = """
import json, sys
import nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
               resources={"metadata": {"path": sys.argv[2]}}).execute()
nbformat.write(nb, sys.argv[1])
"""


def _learner_venv(base: Path) -> Path:
    """A fresh venv without convlab, which sees the project's other installed packages."""
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    project_site = Path(next(p for p in sys.path if p.endswith("site-packages")
                             and Path(p).resolve().is_relative_to((ROOT / ".venv").resolve())))
    overlay = base / "preinstalled"
    overlay.mkdir()
    for entry in project_site.iterdir():
        lowered = entry.name.lower()
        if lowered.startswith(("convlab", "autograder", "__editable__", "_convlab")) \
                or lowered.endswith(".pth") or lowered in ("pip", "setuptools"):
            continue
        (overlay / entry.name).symlink_to(entry)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "zz-preinstalled.pth").write_text(f"{overlay}\n")
    return venv


@pytest.mark.book
@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_learner_path_from_served_wheel(book: Build, server: str,  # noqa: F811
                                        tmp_path: Path) -> None:
    cid = "ch01"
    page = _summary_pages(book.html).get(cid)
    if page is None:
        pytest.skip(f"{cid} has no exercises page in this build")
    venv = _learner_venv(tmp_path)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "JUPYTER", "VIRTUAL_ENV", "MPLBACKEND"))}
    env.update(HOME=str(tmp_path / "home"), PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1",
               PATH=f"{venv / 'bin'}:{env.get('PATH', '')}")
    work = tmp_path / "learner"
    work.mkdir()
    assert subprocess.run([str(python), "-c", "import convlab"], cwd=work, env=env,
                          capture_output=True, timeout=120).returncode != 0, \
        "the learner's environment must start without convlab"
    rel = str(page.relative_to(book.html))
    href = re.search(r'<a class="convlab-download[^"]*" href="([^"]+\.ipynb)"',
                     page.read_text(encoding="utf-8")).group(1)
    nb_path = work / Path(href).name
    nb_path.write_bytes(_get(urljoin(f"{server}/{rel}", href)))
    # The site's address is not configured in the repository; this is the cell a site served
    # from 127.0.0.1 gets (the same function writes it for the configured site).
    nb = json.loads(nb_path.read_text())
    served = f"{server}/{ca.ASSIGNMENTS_DIR}/{WHEEL}"
    for cell in nb["cells"]:
        if ca.INSTALL_TAG in cell["metadata"].get("tags", []):
            cell["source"] = ca.install_cell_source(WHEEL, served)
    nb_path.write_text(json.dumps(nb))
    done = subprocess.run([str(python), "-c", _RUN_NOTEBOOK, str(nb_path), str(work)], cwd=work,
                          env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-4000:]
    import nbformat

    ran = nbformat.read(nb_path, as_version=4)  # multi-line fields as strings
    outputs = [(c["source"], o) for c in ran["cells"] if c["cell_type"] == "code"
               for o in c.get("outputs", [])]
    errors = [o for _, o in outputs if o["output_type"] == "error"]
    assert not [e for e in errors if e["ename"] in ("ModuleNotFoundError", "ImportError")], \
        [e["evalue"] for e in errors]
    install_out = "".join(o.get("text", "") for s, o in outputs if "find_spec" in s)
    assert f"convlab {convlab.__version__}" in install_out
    checks = [o for s, o in outputs if "check(" in s and o["output_type"] == "error"]
    assert checks and all("not implemented yet" in o["evalue"] for o in checks), \
        [o["evalue"] for o in checks]
    installed = subprocess.run([str(python), "-c", "import convlab; print(convlab.__file__)"],
                               cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert str(venv) in installed.stdout, "convlab came from the served wheel"
