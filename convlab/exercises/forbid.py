"""Forbidding APIs while student code runs: each forbidden callable is swapped for one that
records the call and raises :class:`ForbiddenAPIError`.

The record survives even when the student catches the exception, so a violation is found
whatever the code does next. The grader backs this with a static scan of the source
(:mod:`autograder.scan`). Names resolve through :func:`convlab.exercises.apis.resolve`.
"""

from __future__ import annotations

import contextlib
import sys
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
        def forbidden(*args: Any, **kwargs: Any) -> Any:
            if name not in self.used:
                self.used.append(name)
            raise ForbiddenAPIError(f"{name} is not allowed in this exercise")

        # The stand-in looks like the original (name, docstring) but keeps no reference to it:
        # functools.wraps would hand the original back as ``__wrapped__``.
        for field in ("__name__", "__qualname__", "__doc__"):
            with contextlib.suppress(AttributeError, TypeError):
                setattr(forbidden, field, getattr(original, field))
        return forbidden

    def _swap(self, owner: Any, attr: str, stand_in: Any) -> None:
        had = attr in vars(owner) if hasattr(owner, "__dict__") else True
        original = getattr(owner, attr)
        self._saved.append((owner, attr, vars(owner).get(attr, original), had))
        setattr(owner, attr, stand_in)

    @staticmethod
    def _bindings(packages: set[str]) -> dict[int, list[tuple[Any, str]]]:
        """Every module attribute under ``packages``, by the id of the object it binds."""
        index: dict[int, list[tuple[Any, str]]] = {}
        for mod_name, module in list(sys.modules.items()):
            if (module is None or mod_name.split(".", 1)[0] not in packages
                    or mod_name.startswith(__package__)):  # never the grading machinery
                continue
            for attr, value in list(vars(module).items()):
                if callable(value):
                    index.setdefault(id(value), []).append((module, attr))
        return index

    def __enter__(self) -> Forbidden:
        resolved = [(name, *resolve(name)) for name in self.names]
        # convlab's own re-exports; torch's aliases are the run-time guard's (by operator).
        bindings = self._bindings({"convlab"})
        for name, owner, attr in resolved:
            original = getattr(owner, attr)
            stand_in = self._raiser(name, original)
            self._swap(owner, attr, stand_in)
            # Other names of the same object in the same package (a re-export such as
            # convlab.functional.conv2d_naive of convlab.functional.conv.conv2d_naive).
            for module, alias in (bindings.get(id(original), ())
                                  if name.startswith("convlab.") else ()):
                if (module, alias) != (owner, attr) and vars(module).get(alias) is original:
                    with contextlib.suppress(AttributeError, TypeError):
                        self._swap(module, alias, stand_in)
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
