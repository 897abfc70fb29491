"""An on-disk cache of compiled modules, so large guests start in milliseconds, not seconds.

wasmtime runs serialized code as it finds it, so an entry is native code that a later run
executes: whoever can write one chooses what runs. The design, against a guest that a run gave a
writable ancestor of the cache (``pywasi run --dir ~``) and against anything else on the host
that can write files but not read the user's private ones:

* **Entries carry their key and are authenticated.** An entry's name and header hold its content
  key (SHA-256 of the module's bytes, the wasmtime version, the machine and the engine settings);
  its header also holds a MAC (keyed BLAKE2b) of header and code under a per-user secret (``key``
  in the cache directory, 32 random bytes, mode 0600). Both are checked before wasmtime sees a
  byte: an entry copied over another's name, corrupt, truncated or forged is recompiled and
  replaced.
  The secret is written to a temp file made with ``O_EXCL`` and published with ``link()``, which
  fails if one exists: two first runs agree on one key, and no reader sees half a key.
* **The directory is private and held by descriptor.** It is created 0700. Below the user's base
  directory (``$HOME``, ``$XDG_CACHE_HOME`` or the parent of ``$PYWASI_CACHE_DIR``, whose own links
  are the user's business) each component is opened with ``O_NOFOLLOW | O_DIRECTORY``, and all
  work (entries, temp files, rename, the key) is relative to that descriptor, so a component
  swapped for a symbolic link cannot redirect a write. A directory that is a link, not owned by
  the user, or writable by group or others, or a key that is not a private 32-byte file, turns
  the cache off for the run with one line on stderr. No home directory, or one that cannot be
  written, turns it off quietly. Temp files are removed on every failure; one left by a
  process killed mid-write is swept by a later write once it is an hour old.
* **No guest can reach it.** The secret is only as good as its secrecy, and a guest with ``--dir
  ~`` could otherwise read it, or replace the directory (or ``~/.cache``) with one of its own,
  key included. `WASI` protects the cache's location whenever it has preopens, and the cache again
  once it has opened its directory (one policy: `pywasi.cache_policy`; `sandbox.guard` enforces
  it): no guest may enter or open the directory (by device and inode), nor create, remove,
  rename or link its name or those of its ancestors. So in a later run the directory, its key
  and its entries are still the ones pywasi made.

**Warm loads copy nothing and hash as little as they may.** An entry is mapped, checked where it
lies and handed to wasmtime from the mapping (see `_OpenCache.read`), so Python never holds a
copy of the code. Files are judged by their state (device, inode, size, modification and change
times, as ccache's "direct mode" and git's index judge them; the change time cannot be set
back, short of the clock): a module given by path whose file is in the same state as at an
earlier load is not read or hashed at all, since an index record named by a MAC of that state,
and itself MACed, gives its content key (see `ModuleCache.load_file`); and an entry whose MAC
was checked once in its present state is not MACed again, since a marker named by a MAC of
entry key and state says so. Its key is still checked on every load. MACs are keyed BLAKE2b
from CPython's own ``_blake2``: the OpenSSL behind `hashlib` costs a small run 3.5 ms to load,
and is loaded only where a module's content must be hashed.

Only engines whose settings are known can be keyed: the ones `remember_settings` was told about
(pywasi's `make_engine`); an engine made from an arbitrary ``wasmtime.Config`` is not cached.
Set ``PYWASI_CACHE=0`` (or `pywasi run --no-cache`) to turn the cache off, ``PYWASI_CACHE_DIR``
to move it.
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
import platform
import stat
import sys
import time
from collections.abc import Mapping
from contextlib import suppress
from functools import cache
from pathlib import Path
from typing import Final
from weakref import WeakKeyDictionary

import wasmtime

from ..cache_policy import CacheLocation, default_location, protect_cache
from .ffi import deserialize

try:  # the C code behind hashlib.blake2b and hmac.compare_digest, without loading OpenSSL
    from _blake2 import blake2b
    from _operator import _compare_digest as compare_digest
except ImportError:  # not CPython
    from hashlib import blake2b
    from hmac import compare_digest  # type: ignore[no-redef]

_MAGIC: Final = b"pywasi-cwasm-3\n"
_INDEX_MAGIC: Final = b"pywasi-index-2\n"  # a MAC over an index entry is never an entry's
_VERIFIED_MAGIC: Final = b"pywasi-verified-1\n"
_VERIFIED_SUFFIX: Final = ".ok"
_INDEX_SUFFIX: Final = ".stat"
_INDEX_SIZE: Final = 64  # the content key, then its MAC
# A file changed this recently could change again within one tick of the timestamps (ctime
# moves in steps of a few ms), unseen: its state vouches for nothing yet (see `_settled`).
_SETTLED_NS = 2 * 10**9
_KEY_END: Final = len(_MAGIC) + 32  # the header: magic, content key (SHA-256), MAC
_HEADER_SIZE: Final = _KEY_END + 32
_SECRET_NAME: Final = "key"
_SECRET_SIZE: Final = 32
_DIRECTORY_FLAGS: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a FIFO planted under a file's name must not hang the host.
_READ_FLAGS: Final = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_TEMP_FLAGS: Final = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_TEMP_SUFFIX: Final = ".tmp"
# A temp file this old was left by a process that died mid-write (none takes this long).
_STALE_TEMP_SECONDS: Final = 3600

_settings_of_engine: WeakKeyDictionary[wasmtime.Engine, Mapping[str, bool]] = WeakKeyDictionary()
_warned: set[Path] = set()


def remember_settings(engine: wasmtime.Engine, settings: Mapping[str, bool]) -> None:
    """Record the settings `engine` was configured with (wasmtime cannot tell them), so
    modules compiled for it can be cached."""
    _settings_of_engine[engine] = dict(settings)


def settings_of(engine: wasmtime.Engine) -> Mapping[str, bool] | None:
    """`engine`'s settings if they were recorded, else None: then it cannot be cached."""
    return _settings_of_engine.get(engine)


def cache_enabled() -> bool:
    return os.environ.get("PYWASI_CACHE", "1").lower() not in ("0", "false", "no", "off")


class _Refused(Exception):
    """The cache directory is not one pywasi can trust; the message says why."""


@cache
def _wasmtime_version() -> str:
    """wasmtime-py's version, from the name of its ``.dist-info`` beside the package: asking
    `importlib.metadata` costs some 20 ms of imports, a fifth of a small run. That is the
    fallback where the layout is not the usual one (no such directory, or more than one)."""
    site = Path(wasmtime.__file__).parent.parent
    prefix, suffix = "wasmtime-", ".dist-info"
    with suppress(OSError), os.scandir(site) as entries:
        found = [entry.name for entry in entries
                 if entry.name.startswith(prefix) and entry.name.endswith(suffix)]
        if len(found) == 1:
            return found[0][len(prefix) : -len(suffix)]
    from importlib.metadata import version

    return version("wasmtime")


def _content_key(wasm: bytes, settings: Mapping[str, bool]) -> bytes:
    import hashlib  # here, not at import: loading OpenSSL costs 3.5 ms, which warm runs skip

    key = hashlib.sha256(_MAGIC)
    key.update(f"{_wasmtime_version()}|{platform.machine()}|{sorted(settings.items())}|".encode())
    key.update(wasm)
    return key.digest()


def entry_name(wasm: bytes, settings: Mapping[str, bool]) -> str:
    """The file name of `wasm`'s entry for an engine with `settings`: its content key."""
    return _name_of(_content_key(wasm, settings))


def _name_of(key: bytes) -> str:
    return f"{key.hex()}.cwasm"


def _mac(secret: bytes, *parts: bytes | memoryview) -> bytes:
    """The MAC of `parts` under `secret`; callers start `parts` with a magic of their own, so
    no MAC made for one purpose is valid for another."""
    mac = blake2b(key=secret, digest_size=32)
    for part in parts:
        mac.update(part)
    return mac.digest()


def _state(st: os.stat_result) -> bytes:
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}".encode()


def _settled(st: os.stat_result) -> bool:
    """Whether a file's state can vouch for its contents: one changed this recently could
    change again within one tick of the timestamps, unseen (git's "racily clean" rule)."""
    return time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) > _SETTLED_NS


def _remove(dir_fd: int, name: str) -> None:
    with suppress(OSError):
        os.unlink(name, dir_fd=dir_fd)


def _write_temp(dir_fd: int, *chunks: bytes) -> str:
    """A new private file in `dir_fd` holding `chunks`; its name. Nothing is left on failure."""
    name = f".{os.urandom(8).hex()}{_TEMP_SUFFIX}"
    fd = os.open(name, _TEMP_FLAGS, 0o600, dir_fd=dir_fd)
    try:
        for chunk in chunks:
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]
    except BaseException:
        os.close(fd)
        _remove(dir_fd, name)
        raise
    os.close(fd)
    return name


def _sweep_stale_temps(dir_fd: int) -> None:
    """Remove the temp files of processes that were killed while writing."""
    stale_before = time.time() - _STALE_TEMP_SECONDS
    with suppress(OSError), os.scandir(dir_fd) as entries:
        for entry in entries:
            if (entry.name.startswith(".") and entry.name.endswith(_TEMP_SUFFIX)
                    and entry.stat(follow_symlinks=False).st_mtime < stale_before):
                _remove(dir_fd, entry.name)


def _enter(dir_fd: int, name: str) -> int:
    """Directory `name` in `dir_fd`, made (0700) if missing, never through a link."""
    with suppress(FileExistsError):
        os.mkdir(name, 0o700, dir_fd=dir_fd)
    try:
        return os.open(name, _DIRECTORY_FLAGS, dir_fd=dir_fd)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENOTDIR):
            raise _Refused(f"{name} is a symbolic link or no directory") from None
        raise


def _open_directory(location: CacheLocation) -> int:
    os.makedirs(location.base, mode=0o700, exist_ok=True)
    dir_fd = os.open(location.base, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for name in location.below:
            inner = _enter(dir_fd, name)
            os.close(dir_fd)
            dir_fd = inner
        st = os.fstat(dir_fd)
        if st.st_uid != os.geteuid():
            raise _Refused("it is not owned by you")
        if st.st_mode & 0o022:
            raise _Refused("others can write to it")
    except BaseException:
        os.close(dir_fd)
        raise
    return dir_fd


def _read_secret(dir_fd: int) -> bytes:
    try:
        fd = os.open(_SECRET_NAME, _READ_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        return _create_secret(dir_fd)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise _Refused("its key is a symbolic link") from None
        raise
    with os.fdopen(fd, "rb") as file:
        st = os.fstat(fd)
        if (not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid()
                or st.st_mode & 0o077 or st.st_size != _SECRET_SIZE):
            raise _Refused(f"its {_SECRET_NAME!r} is not a private {_SECRET_SIZE}-byte file")
        return file.read()


def _create_secret(dir_fd: int) -> bytes:
    secret = os.urandom(_SECRET_SIZE)
    temp = _write_temp(dir_fd, secret)
    try:
        os.link(temp, _SECRET_NAME, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
    except FileExistsError:  # another process made one first: share it
        return _read_secret(dir_fd)
    finally:
        _remove(dir_fd, temp)
    return secret


def _warn(location: CacheLocation, reason: str) -> None:
    """One line per directory and process: a refused cache is slow, and may be tampered with."""
    if location.path not in _warned:
        _warned.add(location.path)
        print(f"pywasi: compiled-module cache off: {location.path}: {reason}; remove it "
              "(pywasi makes a private one) or set PYWASI_CACHE_DIR", file=sys.stderr)


def _map(dir_fd: int, name: str) -> tuple[mmap.mmap, os.stat_result] | None:
    """Regular file `name` of `dir_fd`, mapped (privately: pages are shared with the page
    cache until written, so nothing is copied), and its state; None if it is missing, empty or
    no file."""
    try:
        fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size <= _HEADER_SIZE:
            return None
        return mmap.mmap(fd, 0, access=mmap.ACCESS_COPY), st
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)


class _OpenCache:
    """The cache directory, held by descriptor, and its secret."""

    __slots__ = ("dir_fd", "secret")

    def __init__(self, dir_fd: int, secret: bytes) -> None:
        self.dir_fd = dir_fd
        self.secret = secret

    def read(self, engine: wasmtime.Engine, key: bytes) -> wasmtime.Module | None:
        """The module of entry `key` if it is sound and authentic, else None.

        The entry is mapped, not read: its code is checked and deserialized where it lies, so
        a warm load of a big module costs wasmtime's own copy, and one pass of the MAC the
        first time the entry is loaded in its present state. Its pages could change after
        the check only through a write to the file itself, which needs the user's rights (a
        0600 file in a 0700 directory), which no guest has (see `sandbox.guard`), and which
        pywasi never does (entries are replaced by rename, never rewritten in place)."""
        mapped = _map(self.dir_fd, _name_of(key))
        if mapped is None:
            return None
        entry, st = mapped
        code = memoryview(entry)[_HEADER_SIZE:]
        try:
            header = entry[:_HEADER_SIZE]
            # Two checks, each on its own: this is the entry asked for, and pywasi wrote it.
            stored_key = header[len(_MAGIC) : _KEY_END]
            if header[: len(_MAGIC)] != _MAGIC or stored_key != key:
                return None
            verified = _mac(self.secret, _VERIFIED_MAGIC, key, _state(st)).hex() \
                + _VERIFIED_SUFFIX
            if not self._exists(verified):
                mac = _mac(self.secret, _MAGIC, stored_key, code)
                if not compare_digest(header[_KEY_END:], mac):
                    return None
                if _settled(st):
                    self._publish(verified)
            try:
                return deserialize(engine, code)
            except wasmtime.WasmtimeError:  # written by an incompatible build: recompile
                return None
        finally:
            code.release()
            # A frame of this load that another thread holds (a sampling profiler's, such as
            # every Dask worker runs) can keep a view of the mapping alive: it is then unmapped
            # when that goes, not here.
            with contextlib.suppress(BufferError):
                entry.close()

    def _exists(self, name: str) -> bool:
        try:
            return stat.S_ISREG(os.stat(name, dir_fd=self.dir_fd, follow_symlinks=False).st_mode)
        except OSError:
            return False

    def write(self, key: bytes, code: bytes) -> None:
        """Write atomically (temp file, then rename); a cache that cannot be written is
        skipped, and keeps no temp file (nor those of writers that were killed)."""
        _sweep_stale_temps(self.dir_fd)
        self._publish(_name_of(key), _MAGIC, key, _mac(self.secret, _MAGIC, key, code), code)

    def _publish(self, name: str, *chunks: bytes) -> None:
        with suppress(OSError):
            temp = _write_temp(self.dir_fd, *chunks)
            try:
                os.rename(temp, name, src_dir_fd=self.dir_fd, dst_dir_fd=self.dir_fd)
            except BaseException:
                _remove(self.dir_fd, temp)
                raise

    def index_of(self, st: os.stat_result, settings: Mapping[str, bool]) -> bytes:
        """The index key of a module file in this state: its identity and times, the engine
        and the machine, under the secret (so no one else can tell or choose the names)."""
        setup = f"|{_wasmtime_version()}|{platform.machine()}|{sorted(settings.items())}"
        return _mac(self.secret, _INDEX_MAGIC, _state(st), setup.encode())

    def indexed_key(self, index: bytes) -> bytes | None:
        """The content key recorded for file state `index`, if its record is authentic."""
        try:
            fd = os.open(index.hex() + _INDEX_SUFFIX, _READ_FLAGS, dir_fd=self.dir_fd)
        except OSError:
            return None
        try:
            with os.fdopen(fd, "rb") as file:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    return None
                record = file.read(_INDEX_SIZE + 1)
        except OSError:
            return None
        key, mac = record[:32], record[32:]
        if len(record) != _INDEX_SIZE or not compare_digest(
                mac, _mac(self.secret, _INDEX_MAGIC, index, key)):
            return None
        return key

    def record_index(self, index: bytes, key: bytes) -> None:
        self._publish(index.hex() + _INDEX_SUFFIX, key,
                      _mac(self.secret, _INDEX_MAGIC, index, key))


def _open(location: CacheLocation) -> _OpenCache | None:
    """The cache at `location`, made if need be; None (caching off) if it cannot be trusted
    (one warning) or used (quietly)."""
    try:
        dir_fd = _open_directory(location)
    except _Refused as refusal:
        _warn(location, str(refusal))
        return None
    except OSError:
        return None
    protect_cache(location.path)  # now with the directory's identity
    try:
        return _OpenCache(dir_fd, _read_secret(dir_fd))
    except _Refused as refusal:
        _warn(location, str(refusal))
    except OSError:
        pass
    os.close(dir_fd)
    return None


class ModuleCache:
    """Compiled modules in `directory` (default: `default_location`)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.location = CacheLocation.of(directory) if directory is not None else default_location()

    def load(self, engine: wasmtime.Engine, wasm: bytes,
             settings: Mapping[str, bool]) -> wasmtime.Module:
        """The compiled module, from the cache when an authentic entry exists, else compiled
        now (and stored)."""
        cache = _open(self.location) if self.location is not None else None
        if cache is None:
            return wasmtime.Module(engine, wasm)
        try:
            return _through(cache, engine, wasm, _content_key(wasm, settings))
        finally:
            os.close(cache.dir_fd)

    def load_file(self, engine: wasmtime.Engine, path: Path,
                  settings: Mapping[str, bool]) -> wasmtime.Module | None:
        """As `load`, for the binary module in file `path`; None (the caller reads the file)
        if it holds text or the cache is off. Raises OSError if it cannot be read.

        A file in the same state as at an earlier load is neither read nor hashed: its content
        key comes from an authenticated index record. The entry found is still checked against
        that key as always; only a change to the file that leaves its state the same would go
        unseen, and the change time cannot be set back (short of the clock)."""
        cache = _open(self.location) if self.location is not None else None
        if cache is None:
            return None
        try:
            with open(path, "rb") as file:
                st = os.fstat(file.fileno())
                if file.read(4) != b"\0asm":
                    return None
                index = cache.index_of(st, settings)
                indexed = cache.indexed_key(index)
                if indexed is not None and (known := cache.read(engine, indexed)) is not None:
                    return known
                file.seek(0)
                wasm = file.read()
            key = _content_key(wasm, settings)
            module = _through(cache, engine, wasm, key)
            if _settled(st):
                cache.record_index(index, key)
            return module
        finally:
            os.close(cache.dir_fd)


def _through(cache: _OpenCache, engine: wasmtime.Engine, wasm: bytes,
             key: bytes) -> wasmtime.Module:
    """`wasm`, whose content key is `key`, from `cache` or compiled now (and stored)."""
    module = cache.read(engine, key)
    if module is None:
        module = wasmtime.Module(engine, wasm)
        cache.write(key, bytes(module.serialize()))
    return module
