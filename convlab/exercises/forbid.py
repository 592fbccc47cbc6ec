"""Forbidding APIs while student code runs: each forbidden callable is swapped for one that
records the call and raises :class:`ForbiddenAPIError`.

The record survives even when the student catches the exception, so a violation is found
whatever the code does next. The grader backs this with a static scan of the source
(:mod:`autograder.scan`). Names resolve through :func:`convlab.exercises.apis.resolve`.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

from .apis import resolve

#: The resolver under its earlier private name.
_resolve = resolve


class ForbiddenAPIError(RuntimeError):
    """Raised when a solution calls an API its exercise forbids."""


class Forbidden:
    """Context manager: inside it, every listed API raises and is recorded in ``self.used``."""

    def __init__(self, names: tuple[str, ...] | list[str]):
        self.names = tuple(names)
        self.used: list[str] = []
        self._saved: list[tuple[Any, str, Any, bool]] = []

    def _raiser(self, name: str, original: Any) -> Any:
        @functools.wraps(original)
        def forbidden(*args: Any, **kwargs: Any) -> Any:
            if name not in self.used:
                self.used.append(name)
            raise ForbiddenAPIError(f"{name} is not allowed in this exercise")

        return forbidden

    def __enter__(self) -> Forbidden:
        for name in self.names:
            owner, attr = resolve(name)
            had = attr in vars(owner) if hasattr(owner, "__dict__") else True
            original = getattr(owner, attr)
            self._saved.append((owner, attr, vars(owner).get(attr, original), had))
            setattr(owner, attr, self._raiser(name, original))
        return self

    def __exit__(self, *exc: Any) -> None:
        for owner, attr, original, had in reversed(self._saved):
            if had:
                setattr(owner, attr, original)
            else:
                with contextlib.suppress(AttributeError, TypeError):
                    delattr(owner, attr)
        self._saved.clear()


@contextlib.contextmanager
def forbidden(names: tuple[str, ...] | list[str]) -> Iterator[Forbidden]:
    """``with forbidden(["torch.nn.functional.conv2d"]) as f: ...; f.used`` lists violations."""
    guard = Forbidden(names)
    with guard:
        yield guard
