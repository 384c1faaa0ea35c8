"""Name -> object registries: configs refer to names, never to imports.

Each family (models, losses, degradations, datasets, baselines) owns one
`Registry`; entries register themselves with a decorator when their module is
imported, and the family's package imports all its modules so that `get()` sees
every entry.
"""
from __future__ import annotations

import difflib
from typing import Any, Callable, Iterator


class Registry:
  """A mapping from names to factories with a clear error for unknown names."""

  def __init__(self, family: str):
    self.family = family
    self._entries: dict[str, Any] = {}

  def register(self, name: str) -> Callable[[Any], Any]:
    """Decorator: `@REGISTRY.register("name")` on a class or function."""

    def wrap(obj):
      if name in self._entries and self._entries[name] is not obj:
        raise ValueError(f"{self.family} {name!r} is registered twice "
                         f"({self._entries[name]!r} and {obj!r}).")
      self._entries[name] = obj
      return obj

    return wrap

  def lookup(self, name: str) -> Any:
    """Returns the registered object, or raises KeyError naming close matches."""
    try:
      return self._entries[name]
    except KeyError:
      close = difflib.get_close_matches(name, self._entries, n=3)
      hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
      raise KeyError(f"Unknown {self.family} {name!r}.{hint} "
                     f"Known: {', '.join(sorted(self._entries))}.") from None

  def get(self, name: str, **kwargs) -> Any:
    """Calls the registered factory with `kwargs`."""
    return self.lookup(name)(**kwargs)

  def names(self) -> list[str]:
    return sorted(self._entries)

  def __contains__(self, name: str) -> bool:
    return name in self._entries

  def __iter__(self) -> Iterator[str]:
    return iter(self.names())
