"""An on-disk cache of compiled modules, so large guests start in milliseconds, not seconds.

An entry is keyed by the module's bytes, the wasmtime version and the engine settings. Its file
starts with a checksum of the serialized code, checked before wasmtime deserializes it: wasmtime
trusts serialized code, so a truncated, corrupt or foreign file must never reach it. A bad entry
is recompiled and replaced. Set ``PYWASI_CACHE=0`` (or `pywasi run --no-cache`) to turn the
cache off, ``PYWASI_CACHE_DIR`` to move it.
"""

from __future__ import annotations

import hashlib
import os
import platform
import tempfile
from collections.abc import Mapping
from importlib.metadata import version
from pathlib import Path
from typing import Final

import wasmtime

_MAGIC: Final = b"pywasi-cwasm-1\n"
_DIGEST_SIZE: Final = 32


def cache_enabled() -> bool:
    return os.environ.get("PYWASI_CACHE", "1").lower() not in ("0", "false", "no", "off")


def default_cache_dir() -> Path:
    configured = os.environ.get("PYWASI_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "pywasi"


def _split_entry(data: bytes) -> tuple[bytes, bytes, bytes]:
    """(magic, checksum, serialized code) of a cache file's contents."""
    code_start = len(_MAGIC) + _DIGEST_SIZE
    return data[: len(_MAGIC)], data[len(_MAGIC) : code_start], data[code_start:]


class ModuleCache:
    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or default_cache_dir()

    def _entry(self, wasm: bytes, settings: Mapping[str, bool]) -> Path:
        key = hashlib.sha256()
        key.update(f"{version('wasmtime')}|{platform.machine()}|{sorted(settings.items())}|".encode())
        key.update(wasm)
        return self.directory / f"{key.hexdigest()}.cwasm"

    def load(self, engine: wasmtime.Engine, wasm: bytes,
             settings: Mapping[str, bool]) -> wasmtime.Module:
        """The compiled module, from the cache when a sound entry exists, else compiled now."""
        entry = self._entry(wasm, settings)
        module = self._read(engine, entry)
        if module is None:
            module = wasmtime.Module(engine, wasm)
            self._write(entry, bytes(module.serialize()))
        return module

    @staticmethod
    def _read(engine: wasmtime.Engine, entry: Path) -> wasmtime.Module | None:
        try:
            data = entry.read_bytes()
        except OSError:
            return None
        magic, digest, code = _split_entry(data)
        if magic != _MAGIC or digest != hashlib.sha256(code).digest():
            return None
        try:
            return wasmtime.Module.deserialize(engine, code)
        except wasmtime.WasmtimeError:  # written by an incompatible build: recompile
            return None

    def _write(self, entry: Path, code: bytes) -> None:
        """Write atomically (temp file, then rename); a cache that cannot be written is skipped."""
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
            with os.fdopen(fd, "wb") as out:
                out.write(_MAGIC + hashlib.sha256(code).digest() + code)
            os.replace(temp, entry)
        except OSError:
            pass
