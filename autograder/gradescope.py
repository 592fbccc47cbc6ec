"""Gradescope: the autograder bundle, and grading inside Gradescope's container.

``python -m autograder gradescope-bundle --out autograder.zip`` writes the zip Gradescope
expects: ``setup.sh`` (installs bubblewrap, Python 3.11, the pinned packages of
``requirements.txt`` and this package) and ``run_autograder`` at its root, beside the
``convlab`` and ``autograder`` sources, ``pyproject.toml``, the instructor source notebooks
(``notebooks/chNN/``), the course secret (``course-secret``) and ``convlab-bundle.json`` (the
grading options).

Gradescope unpacks the zip into ``/autograder/source``, runs ``setup.sh`` once, then for each
submission ``run_autograder``, which runs ``python -m autograder gradescope-run`` (:func:`run`):
the notebooks in ``/autograder/submission/`` (a zip there is unpacked safely first) are graded
into ``/autograder/results/results.json``. A submission that cannot be graded still gets a
results file (score 0, the reason). ``--root`` (or ``$GRADESCOPE_ROOT``) replaces
``/autograder``, so the bundle can be tried anywhere.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import stat
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from convlab.exercises.registry import CHAPTERS, Chapter

from .batch import error_results, extract_zip
from .results import write_atomic

BUNDLE_TEMPLATES = Path(__file__).resolve().parent / "bundle"
CONFIG = "convlab-bundle.json"
SECRET = "course-secret"
_REPO = Path(__file__).resolve().parents[1]
_SKIP = re.compile(r"(__pycache__|\.pyc$|\.ipynb_checkpoints|/\.)")


def pinned_requirements(pyproject: Path = _REPO / "pyproject.toml") -> list[str]:
    """The package's runtime dependencies, each pinned to the version installed here."""
    import tomllib

    deps = tomllib.loads(Path(pyproject).read_text(encoding="utf-8"))["project"]["dependencies"]
    pinned = []
    for dep in deps:
        name = re.split(r"[<>=!~\[; ]", dep, maxsplit=1)[0]
        try:
            version = importlib.metadata.version(name).split("+", 1)[0]
        except importlib.metadata.PackageNotFoundError:
            pinned.append(dep)
            continue
        pinned.append(f"{name}=={version}")
    return pinned


def _add_tree(zf: zipfile.ZipFile, folder: Path, arcbase: str) -> None:
    for p in sorted(Path(folder).rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_file() and not p.is_symlink() and not _SKIP.search("/" + rel):
            _add_file(zf, p, f"{arcbase}/{rel}")


def _add_file(zf: zipfile.ZipFile, path: Path, arcname: str, executable: bool = False) -> None:
    _add_bytes(zf, Path(path).read_bytes(), arcname, executable)


def _add_bytes(zf: zipfile.ZipFile, data: bytes, arcname: str, executable: bool = False) -> None:
    info = zipfile.ZipInfo(arcname, date_time=(2020, 1, 1, 0, 0, 0))
    mode = 0o755 if executable else 0o644
    info.external_attr = (stat.S_IFREG | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)


def build_bundle(out: Path, *, source_dir: Path, secret: bytes,
                 chapters: Iterable[str] | None = None, insecure: bool = False,
                 visibility: str = "visible",
                 extra_chapters: Iterable[tuple[Chapter, Path]] = ()) -> Path:
    """Write the Gradescope autograder zip to ``out``.

    Args:
        source_dir: the instructor source notebooks (``chNN/<notebook>``).
        secret: the course secret the hidden inputs are drawn from.
        chapters: chapter ids to grade (default: every chapter with a source notebook).
        insecure: grade without bubblewrap (when the container cannot run it).
        extra_chapters: a course's own chapters, ``(Chapter, folder holding its module)``;
            the folder is bundled and bound into the sandbox.
    """
    if not secret:
        raise ValueError("secret must not be empty")
    extra = list(extra_chapters)
    known = dict(CHAPTERS) | {ch.id: ch for ch, _ in extra}
    wanted = list(chapters) if chapters is not None else [
        cid for cid, ch in known.items() if (Path(source_dir) / cid / ch.notebook).is_file()]
    for cid in wanted:
        if cid not in known:
            raise ValueError(f"chapters: unknown chapter {cid!r}; known: {', '.join(known)}")
        if not (Path(source_dir) / cid / known[cid].notebook).is_file():
            raise ValueError(f"chapters: no source notebook {known[cid].notebook} for {cid} "
                             f"in {source_dir}")
    if not wanted:
        raise ValueError(f"no chapter has a source notebook in {source_dir}")
    config = {"chapters": wanted, "insecure": insecure, "visibility": visibility,
              "extra_chapters": [{"id": ch.id, "title": ch.title, "module": ch.module,
                                  "notebook": ch.notebook, "path": f"extra/{i}"}
                                 for i, (ch, _) in enumerate(extra)]}
    out = Path(out)
    with zipfile.ZipFile(out, "w") as zf:
        _add_file(zf, BUNDLE_TEMPLATES / "setup.sh", "setup.sh", executable=True)
        _add_file(zf, BUNDLE_TEMPLATES / "run_autograder", "run_autograder", executable=True)
        _add_bytes(zf, ("\n".join(pinned_requirements()) + "\n").encode(), "requirements.txt")
        _add_file(zf, _REPO / "pyproject.toml", "pyproject.toml")
        if (_REPO / "README.md").is_file():
            _add_file(zf, _REPO / "README.md", "README.md")
        _add_tree(zf, _REPO / "convlab", "convlab")
        _add_tree(zf, _REPO / "autograder", "autograder")
        for cid in wanted:
            nb = Path(source_dir) / cid / known[cid].notebook
            _add_file(zf, nb, f"notebooks/{cid}/{nb.name}")
        for i, (_, folder) in enumerate(extra):
            _add_tree(zf, Path(folder), f"extra/{i}")
        _add_bytes(zf, secret, SECRET)
        _add_bytes(zf, json.dumps(config, indent=2).encode(), CONFIG)
    return out


def _student(root: Path) -> str:
    """The student id from Gradescope's ``submission_metadata.json`` (the first user's id,
    else the submission id), or ``"anonymous"``."""
    try:
        meta = json.loads((root / "submission_metadata.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "anonymous"
    users = meta.get("users") or []
    for candidate in ([users[0].get("id"), users[0].get("email")] if users else []) + [
            meta.get("id")]:
        if candidate not in (None, ""):
            text = re.sub(r"[^A-Za-z0-9_.@-]", "_", str(candidate))
            if text.strip("."):
                return text
    return "anonymous"


def run(root: Path) -> dict[str, Any]:
    """Grade ``root/submission`` into ``root/results/results.json``; returns what it wrote."""
    from .engine import Grader

    root = Path(root)
    source = root / "source"
    config = json.loads((source / CONFIG).read_text(encoding="utf-8"))
    chapters = {cid: CHAPTERS[cid] for cid in config["chapters"] if cid in CHAPTERS}
    extra_paths = []
    for e in config.get("extra_chapters", []):
        chapters[e["id"]] = Chapter(e["id"], e["title"], e["module"], e["notebook"])
        extra_paths.append(source / e["path"])
    for p in extra_paths:  # the grader imports the extra chapters' modules too
        if str(p) not in sys.path:
            sys.path.insert(0, str(p))
    student = _student(root)
    out = root / "results" / "results.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="convlab-submission-") as tmp:
        try:
            sub = root / "submission"
            zips = sorted(sub.glob("*.zip"))
            if zips and not any(sub.rglob("*.ipynb")):
                for z in zips:
                    extract_zip(z, Path(tmp) / z.stem)
                sub = Path(tmp)
            grader = Grader(source_dir=source / "notebooks",
                            secret=(source / SECRET).read_bytes().strip(), student=student,
                            insecure=bool(config.get("insecure")), chapters=chapters,
                            extra_paths=tuple(extra_paths),
                            visibility=config.get("visibility", "visible"))
            data = grader.grade(sub).as_json()
        except Exception as exc:  # Gradescope needs a results file whatever happened
            data = error_results(student, str(exc).replace(str(root), "") or
                                 type(exc).__name__)
    write_atomic(out, data)
    return data
