"""The compiled-module cache's protection is one policy (`pywasi.cache_policy`), applied by each
place that could let a guest near it: a WASI object with preopens, a memory tree copied from
the host, and the cache itself when it opens its directory. Each test makes a cache directory
in a home of its own that nothing protected before, and asks the guard after one of them
(tools/mutate.py removes each of the three in turn)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import pywasi
from pywasi import WASI, MemoryDir
from pywasi.sandbox import guard

pytestmark = pytest.mark.one_path


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("PYWASI_CACHE_DIR", "XDG_CACHE_HOME", "PYWASI_CACHE"):
        monkeypatch.delenv(name, raising=False)
    return home


def _made_by_hand(home: Path) -> Path:
    """A cache directory pywasi has not opened (so not yet protected by its opening)."""
    cache = home / ".cache" / "pywasi"
    cache.mkdir(parents=True, mode=0o700)
    (cache / "key").write_bytes(bytes(32))
    return cache


def _sealed(directory: Path) -> bool:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return guard.is_sealed(fd)
    finally:
        os.close(fd)


def test_a_wasi_object_with_preopens_protects_the_cache(home: Path) -> None:
    cache = _made_by_hand(home)
    WASI(version="preview1", preopens={"/home": str(home)}).close()
    assert _sealed(cache)


def test_the_cache_protects_its_directory_when_it_opens_it(home: Path) -> None:
    pywasi.load_module(b"(module)")  # no WASI object: only the cache's own opening
    assert _sealed(home / ".cache" / "pywasi")


def test_a_memory_tree_copy_of_home_leaves_the_cache_out(home: Path) -> None:
    cache = _made_by_hand(home)
    (home / "notes").write_text("mine")
    with pytest.warns(UserWarning, match="left out pywasi's"):
        tree = MemoryDir.from_path(home)
    assert "notes" in tree
    cache_parent = tree[".cache"]
    assert isinstance(cache_parent, MemoryDir) and "pywasi" not in cache_parent
    assert _sealed(cache)
