"""The compiled-module cache kept out of every guest's reach: where it lives, and the one
policy that protects it.

The cache (`engine.cache`) holds native code that a later run executes, and the key that
authenticates it; the guard (`sandbox.guard`) refuses any guest that would reach or replace a
protected directory. Neither knows the other: `protect_cache` tells the guard where the cache
is, and it is called by whoever may hand a guest host directories (a `WASI` object with
preopens, a memory tree copied from the host) and by the cache each time it opens its
directory (so that the guard knows the directory's identity as well as its path).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from .sandbox import guard


class CacheLocation(NamedTuple):
    """Where the cache lives: `below` are the directories pywasi makes (and opens without
    following links) beneath `base`, the user's own directory."""

    base: Path
    below: tuple[str, ...]

    @property
    def path(self) -> Path:
        return self.base.joinpath(*self.below)

    @classmethod
    def of(cls, directory: Path) -> CacheLocation:
        directory = Path(os.path.abspath(directory))
        return cls(directory.parent, (directory.name,))


def default_location() -> CacheLocation | None:
    """``$PYWASI_CACHE_DIR``, else ``$XDG_CACHE_HOME/pywasi`` (if absolute, as the XDG spec
    asks), else ``~/.cache/pywasi``; None with no home directory."""
    configured = os.environ.get("PYWASI_CACHE_DIR")
    if configured:
        return CacheLocation.of(Path(configured))
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        return CacheLocation(Path(xdg), ("pywasi",))
    try:
        home = Path.home()
    except (RuntimeError, KeyError):
        return None
    return CacheLocation(home, (".cache", "pywasi")) if home.is_absolute() else None


def default_cache_dir() -> Path | None:
    location = default_location()
    return location.path if location is not None else None


def protect_cache(directory: Path | None = None) -> None:
    """Have the guard keep every guest out of the cache `directory` (default: where the cache
    would be), from now on, for the life of the process."""
    path = directory if directory is not None else default_cache_dir()
    if path is not None:
        guard.protect(path)
