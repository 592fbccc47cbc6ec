"""Which exercises exist: chapter id → the module that declares them and its notebook."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from .spec import Exercise


@dataclass(frozen=True)
class Chapter:
    id: str  # "ch01"
    title: str
    module: str  # declares EXERCISES: tuple[Exercise, ...]
    notebook: str  # file name under notebooks/<id>/ and release/<id>/


CHAPTERS: dict[str, Chapter] = {
    c.id: c
    for c in (
        Chapter("ch01", "Vanilla convolution", "convlab.exercises.ch01",
                "vanilla_convolution.ipynb"),
        Chapter("ch02", "Group convolution", "convlab.exercises.ch02",
                "group_convolution.ipynb"),
        Chapter("ch03", "Transposed convolution", "convlab.exercises.ch03",
                "transposed_convolution.ipynb"),
    )
}


def chapter(chapter_id: str) -> Chapter:
    try:
        return CHAPTERS[chapter_id]
    except KeyError:
        known = ", ".join(sorted(CHAPTERS))
        raise ValueError(f"unknown chapter {chapter_id!r}; known chapters: {known}") from None


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
