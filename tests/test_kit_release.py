"""``make release``, the instructor's first command, works where nothing else has run: no
gradebook, no ``_build/`` or ``release/`` folder, and no ``.venv/bin`` on ``PATH`` (nbgrader
runs ``alembic`` by name). It runs in a copy of the course holding only what the target reads,
with the project's environment in place of a fresh one (creating that takes minutes)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from kit import ROOT

pytestmark = pytest.mark.slow


@pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")
def test_make_release_on_a_bare_copy_without_the_environment_on_path(tmp_path):
    venv = Path(sys.prefix)
    assert (venv / ".stamp-installed").is_file(), "the project's environment is not set up"
    for name in ("Makefile", "pyproject.toml", "nbgrader_config.py"):
        shutil.copy2(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")
    (tmp_path / ".venv").symlink_to(venv, target_is_directory=True)
    old = (venv / ".stamp-installed").stat().st_mtime - 60
    os.utime(tmp_path / "pyproject.toml", (old, old))  # the environment is up to date
    done = subprocess.run(["make", "release"], cwd=tmp_path, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    chapters = sorted(p.name for p in (ROOT / "notebooks").glob("ch[0-9][0-9]"))
    assert chapters
    for ch in chapters:
        (source,) = (ROOT / "notebooks" / ch).glob("*.ipynb")
        released = tmp_path / "release" / ch / source.name
        assert released.is_file(), ch
        assert "BEGIN SOLUTION" not in released.read_text(encoding="utf-8")
    assert (tmp_path / "_build" / "release-gradebook.db").is_file()
