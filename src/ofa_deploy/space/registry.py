"""A registry of named things (space kinds, space families): one place for the register / look-up
rules, so every registry refuses a second object under a taken name and names the known ones."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from ..errors import SpaceError


class Named(Protocol):
    @property
    def name(self) -> str: ...


T = TypeVar("T", bound=Named)


class Registry(Generic[T]):
    """Objects by their `name` attribute, in registration order."""

    def __init__(self) -> None:
        self._items: dict[str, T] = {}

    def register(self, item: T) -> T:
        """Add `item` (registering the same object again is a no-op)."""
        name = item.name
        if name in self._items and self._items[name] is not item:
            raise SpaceError(f"space kind {name!r} is already registered")
        self._items[name] = item
        return item

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise SpaceError(f"unknown space kind {name!r}; known: {', '.join(repr(k) for k in self._items)}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def all(self) -> tuple[T, ...]:
        return tuple(self._items.values())

    def find(self, test: Callable[[T], bool]) -> T | None:
        """The first registered object that passes `test`, None when none does."""
        return next((x for x in self._items.values() if test(x)), None)


__all__ = ["Registry"]
