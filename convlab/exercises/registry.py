"""Which exercises exist: chapter id → the module that declares them and its notebook.

A chapter is one row of :data:`CHAPTERS`. A course (or a test) can register more rows without
editing this file: ``CONVLAB_EXTRA_CHAPTERS`` names JSON files (separated by ``os.pathsep``),
each a list of rows ``{"id": ..., "title": ..., "module": ..., "notebook": ...}``; their modules
must be importable.
"""

from __future__ import annotations

import importlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .spec import Exercise


@dataclass(frozen=True)
class Chapter:
    id: str  # "ch01"
    title: str
    module: str  # declares EXERCISES: tuple[Exercise, ...]
    notebook: str  # file name under notebooks/<id>/ and release/<id>/


def _extra_rows() -> tuple[Chapter, ...]:
    rows = []
    for path in filter(None, os.environ.get("CONVLAB_EXTRA_CHAPTERS", "").split(os.pathsep)):
        for row in json.loads(Path(path).read_text(encoding="utf-8")):
            rows.append(Chapter(row["id"], row["title"], row["module"], row["notebook"]))
    return tuple(rows)


CHAPTERS: dict[str, Chapter] = {
    c.id: c
    for c in (
        Chapter("ch01", "Vanilla convolution", "convlab.exercises.ch01",
                "vanilla_convolution.ipynb"),
        Chapter("ch02", "Group convolution", "convlab.exercises.ch02",
                "group_convolution.ipynb"),
        Chapter("ch03", "Transposed convolution", "convlab.exercises.ch03",
                "transposed_convolution.ipynb"),
        Chapter("ch04", "1×1 convolution", "convlab.exercises.ch04",
                "pointwise_convolution.ipynb"),
        Chapter("ch05", "Atrous (dilated) convolution", "convlab.exercises.ch05",
                "atrous_convolution.ipynb"),
        Chapter("ch06", "Depthwise separable convolution", "convlab.exercises.ch06",
                "depthwise_separable.ipynb"),
        Chapter("ch07", "Deformable convolution", "convlab.exercises.ch07",
                "deformable_convolution.ipynb"),
        Chapter("ch08", "Spatially separable convolution", "convlab.exercises.ch08",
                "spatially_separable.ipynb"),
        Chapter("ch09", "Inception blocks", "convlab.exercises.ch09", "inception.ipynb"),
        *_extra_rows(),
    )
}


def chapter(chapter_id: str) -> Chapter:
    try:
        return CHAPTERS[chapter_id]
    except KeyError:
        known = ", ".join(sorted(CHAPTERS))
        raise ValueError(f"unknown chapter {chapter_id!r}; known chapters: {known}") from None


def chapter_of_module(module: str) -> str:
    """The id of the chapter whose declarations ``module`` holds: the registry row naming it,
    else the module's own name when that is a chapter id (``chNN``, as a grading worker that
    imports a registered test chapter by name sees it)."""
    for c in CHAPTERS.values():
        if c.module == module:
            return c.id
    leaf = module.rpartition(".")[2]
    if re.fullmatch(r"ch\d\d", leaf):
        return leaf
    raise ValueError(f"no chapter in the registry declares its exercises in {module!r}")


def exercises(chapter_id: str) -> tuple[Exercise, ...]:
    """The chapter's exercises, in notebook order."""
    module = importlib.import_module(chapter(chapter_id).module)
    return tuple(module.EXERCISES)


def get(key: str) -> Exercise:
    """``"ch01.conv2d_loop"`` → its :class:`Exercise`."""
    chapter_id, _, name = key.partition(".")
    for ex in exercises(chapter_id):
        if ex.name == name:
            return ex
    names = ", ".join(e.name for e in exercises(chapter_id))
    raise ValueError(f"no exercise {name!r} in {chapter_id}; it has: {names}")
