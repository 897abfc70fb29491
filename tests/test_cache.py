"""The compiled-module cache: hits happen, bad entries are recompiled (never deserialized),
untrusted directories are refused, failures leave nothing behind, and no guest can plant
native code for a later run. Every test has its own cache (HOME or PYWASI_CACHE_DIR in
tmp_path), never the user's."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import pytest
import wasmtime

import pywasi
from guest import build_c, run_guest
from pywasi import WASI, PreopenError, cache_policy, load_module
from pywasi.engine import cache
from pywasi.engine.engines import ENGINE_SETTINGS, make_engine

EXIT_WAT = """(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (call $exit (i32.const {code}))))"""
MAGIC = b"pywasi-cwasm-3\n"
KEY_END = len(MAGIC) + 32  # the header is magic, content key, MAC
HEADER_END = KEY_END + 32
WARNING = "pywasi: compiled-module cache off: "


def wasm_exiting(code: int) -> bytes:
    return bytes(wasmtime.wat2wasm(EXIT_WAT.format(code=code)))


A, B = wasm_exiting(11), wasm_exiting(22)


def run(module: bytes) -> int:
    wasi = WASI(version="preview1")
    return wasi.start(pywasi.instantiate(wasi, module))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home directory of our own, so the cache is at its default place inside it."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("PYWASI_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("PYWASI_CACHE", raising=False)
    return home


def cache_dir(home: Path) -> Path:
    return home / ".cache" / "pywasi"


def entry(home: Path, wasm: bytes, settings: Mapping[str, bool] = ENGINE_SETTINGS) -> Path:
    return cache_dir(home) / cache.entry_name(wasm, settings)


# What `pywasi run` compiles with when no timeout asks for epoch checks.
CLI_SETTINGS = ENGINE_SETTINGS


def forge(secret: bytes, victim: bytes, code: bytes) -> bytes:
    """What someone who knows `secret` would write as `victim`'s entry to run `code`."""
    key = bytes.fromhex(cache.entry_name(victim, ENGINE_SETTINGS).removesuffix(".cwasm"))
    mac = hashlib.blake2b(MAGIC + key + code, key=secret, digest_size=32)
    return MAGIC + key + mac.digest() + code


@contextmanager
def compiling_refused() -> Iterator[None]:
    """Within: a module must come from the cache."""
    def compile_refused(*_: object) -> None:
        raise AssertionError("compiled, though the cache holds the module")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(wasmtime.Module, "__init__", compile_refused)
        yield


def test_second_load_deserializes_instead_of_compiling(home: Path) -> None:
    assert run(B) == 22
    assert entry(home, B).is_file()
    assert (cache_dir(home).stat().st_mode & 0o777, (cache_dir(home) / "key").stat().st_mode
            & 0o777) == (0o700, 0o600)
    with compiling_refused():
        assert run(B) == 22


def test_every_engine_made_by_make_engine_is_cached_and_a_foreign_one_is_not(home: Path) -> None:
    load_module(B, make_engine())
    with compiling_refused():
        load_module(B, make_engine())
    entry(home, B).unlink()
    load_module(B, wasmtime.Engine())
    assert os.listdir(cache_dir(home)) == ["key"]  # its settings are unknown: never keyed


def test_entry_copied_over_another_modules_is_recompiled(home: Path) -> None:
    assert (run(A), run(B)) == (11, 22)
    good = entry(home, B).read_bytes()
    shutil.copyfile(entry(home, A), entry(home, B))
    assert run(B) == 22
    assert entry(home, B).read_bytes() == good


def test_entry_relabelled_without_a_valid_mac_is_recompiled(home: Path) -> None:
    """The right key in the header is not enough: the MAC covers it and the code."""
    assert (run(A), run(B)) == (11, 22)
    foreign = entry(home, A).read_bytes()
    key_of_b = entry(home, B).read_bytes()[len(MAGIC):KEY_END]
    entry(home, B).write_bytes(foreign[: len(MAGIC)] + key_of_b + foreign[KEY_END:])
    assert run(B) == 22


def test_a_forgery_needs_the_secret_key(home: Path) -> None:
    """With the key a forged entry runs (so keeping guests from reading it is what matters),
    and one made with any other key is recompiled."""
    assert (run(A), run(B)) == (11, 22)
    code_of_a = entry(home, A).read_bytes()[HEADER_END:]
    entry(home, B).write_bytes(forge(b"\0" * 32, B, code_of_a))
    assert run(B) == 22
    entry(home, B).write_bytes(forge((cache_dir(home) / "key").read_bytes(), B, code_of_a))
    assert run(B) == 11


def pywasi_run(home: Path, *args: str,
               wrapper: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """`pywasi run ARGS` (after the `wrapper` command, if any) with `home` as HOME."""
    env = {name: value for name, value in os.environ.items()
           if name not in ("PYWASI_CACHE_DIR", "XDG_CACHE_HOME", "PYWASI_CACHE")}
    return subprocess.run([*wrapper, sys.executable, "-m", "pywasi", "run", *args],
                          capture_output=True, text=True, env={**env, "HOME": str(home)},
                          timeout=60)


def test_one_flipped_byte_is_recompiled_not_handed_to_wasmtime(home: Path) -> None:
    """In a subprocess: wasmtime accepts a flipped code byte as it is, and may then crash."""
    module = home / "b.wasm"
    module.write_bytes(B)
    assert pywasi_run(home, str(module)).returncode == 22
    good = entry(home, B, CLI_SETTINGS).read_bytes()
    flipped = bytearray(good)
    flipped[(HEADER_END + len(good)) // 2] ^= 0x01
    entry(home, B, CLI_SETTINGS).write_bytes(flipped)
    result = pywasi_run(home, str(module))
    assert (result.returncode, result.stderr) == (22, "")
    assert entry(home, B, CLI_SETTINGS).read_bytes() == good


def test_no_home_directory_turns_caching_off(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    for name in ("HOME", "PYWASI_CACHE_DIR", "XDG_CACHE_HOME", "PYWASI_CACHE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(Path, "home", no_home)
    assert cache_policy.default_location() is None
    wasi = WASI(version="preview1", preopens={"/sandbox": str(tmp_path)})
    assert wasi.start(pywasi.instantiate(wasi, B)) == 22


@pytest.mark.parametrize("failing_call", ["write", "rename"])
def test_a_write_failure_leaves_no_temp_file(home: Path, monkeypatch: pytest.MonkeyPatch,
                                             failing_call: str) -> None:
    assert run(A) == 11
    if failing_call == "write":  # the first chunk is written, the next is not
        real_write, calls = os.write, list[int]()

        def write(fd: int, data: bytes) -> int:
            if os.readlink(f"/proc/self/fd/{fd}").endswith(".tmp") and calls:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            calls.append(fd)
            return real_write(fd, data)

        monkeypatch.setattr(os, "write", write)
    else:
        def rename(*_: object, **__: object) -> None:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(os, "rename", rename)
    assert run(B) == 22
    assert sorted(os.listdir(cache_dir(home))) == sorted(["key", entry(home, A).name])


def test_temp_files_of_a_killed_writer_are_swept_by_the_next_write(home: Path) -> None:
    assert run(A) == 11
    stale, fresh = cache_dir(home) / ".killed.tmp", cache_dir(home) / ".writing.tmp"
    for temp in (stale, fresh):
        temp.write_bytes(b"half an entry")
    os.utime(stale, (0, 0))
    assert run(B) == 22
    assert (stale.exists(), fresh.exists()) == (False, True)


def make_group_writable(home: Path) -> None:
    cache_dir(home).chmod(0o770)


def give_to_nobody(home: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("only root can give a directory away")
    os.chown(cache_dir(home), 65534, 65534)


def swap_for_symlink(home: Path) -> None:
    """An attacker's own cache, key and forged entry included, linked in place of ours."""
    evil = home / "evil"
    cache_dir(home).rename(evil)
    cache_dir(home).symlink_to(evil)


def swap_ancestor_for_symlink(home: Path) -> None:
    evil = home / "evil"
    (home / ".cache").rename(evil)
    (home / ".cache").symlink_to(evil)


def make_key_readable(home: Path) -> None:
    (cache_dir(home) / "key").chmod(0o644)


@pytest.mark.parametrize("tamper", [make_group_writable, give_to_nobody, swap_for_symlink,
                                    swap_ancestor_for_symlink, make_key_readable])
def test_an_untrusted_cache_directory_is_refused_with_one_warning(
        home: Path, capfd: pytest.CaptureFixture[str], tamper: Callable[[Path], None]) -> None:
    """Whatever it holds (here a forgery made with its own key) is never read; nothing is
    written to it; the run works, uncached, and says so once."""
    assert (run(A), run(B)) == (11, 22)
    secret = (cache_dir(home) / "key").read_bytes()
    entry(home, B).write_bytes(forge(secret, B, entry(home, A).read_bytes()[HEADER_END:]))
    tamper(home)
    listing = sorted(os.listdir(cache_dir(home)))
    capfd.readouterr()
    assert (run(B), run(B)) == (22, 22)
    warning = capfd.readouterr().err
    assert warning.startswith(WARNING) and warning.count("\n") == 1, warning
    assert sorted(os.listdir(cache_dir(home))) == listing


def test_guest_cannot_reach_the_cache_through_its_home_directory(
        home: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """Run 1 gives the attack guest the home directory; run 2, of another module, finds the
    cache as pywasi left it."""
    assert run(B) == 22
    load_module(build_c("cache_attack"))  # its own entry is the host's doing
    (home / ".cache" / "neighbour").write_text("not pywasi's")
    before = {path.name: path.read_bytes() for path in cache_dir(home).iterdir()}
    attack = run_guest(build_c("cache_attack"), [str(home), entry(home, B).name],
                       preopens={str(home): str(home)})
    lines = attack.out.splitlines()
    assert lines[0] == "neighbour: read"
    assert [line for line in lines[1:] if not line.startswith("refused ")] == [], attack.out
    assert "refused read key: Permission denied" in lines
    assert "refused plant entry: Permission denied" in lines
    assert "refused rename .cache away: Permission denied" in lines
    assert attack.exit_code == 0
    assert {path.name: path.read_bytes() for path in cache_dir(home).iterdir()} == before
    capfd.readouterr()
    with compiling_refused():
        assert run(B) == 22
    assert capfd.readouterr().err == ""


def test_guest_cannot_create_the_cache_before_the_host(home: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYWASI_CACHE", "0")  # so not even the attack's own entry is made
    attack = run_guest(build_c("cache_attack"), [str(home), entry(home, B).name],
                       preopens={str(home): str(home)})
    assert "BREACH" not in attack.out and attack.exit_code == 0, attack.out
    assert "refused create .cache: Permission denied" in attack.out.splitlines()
    assert "refused rename ours over .cache: Permission denied" in attack.out.splitlines()
    assert not (home / ".cache").exists()
    monkeypatch.delenv("PYWASI_CACHE")
    assert run(B) == 22
    assert sorted(os.listdir(cache_dir(home))) == sorted(["key", entry(home, B).name])


def test_guest_is_kept_out_of_a_cache_made_after_its_wasi(home: Path) -> None:
    """The host makes the cache between `WASI()` and `start()`: the guard follows, and the
    guest can still use the rest of ~/.cache."""
    with tempfile.TemporaryFile() as output:
        wasi = WASI(version="preview1", args=["attack", str(home), entry(home, B).name],
                    preopens={str(home): str(home)}, stdout=output.fileno())
        instance = pywasi.instantiate(wasi, build_c("cache_attack"))
        assert cache_dir(home).is_dir()
        (home / ".cache" / "neighbour").write_text("not pywasi's")
        assert wasi.start(instance) == 0
        output.seek(0)
        lines = output.read().decode().splitlines()
    assert lines[0] == "neighbour: read"
    assert [line for line in lines[1:] if not line.startswith("refused ")] == []
    assert "refused read key: Permission denied" in lines


def test_two_step_attack_through_the_cli_fails(home: Path) -> None:
    """`pywasi run --dir ~ attack.wasm`, then `pywasi run` of another module."""
    victim = home / "victim.wasm"
    victim.write_bytes(B)
    attack = pywasi_run(home, "--dir", str(home), str(build_c("cache_attack")), str(home),
                        entry(home, B).name)
    assert (attack.returncode, attack.stderr) == (0, ""), attack.stdout
    assert "refused read key: Permission denied" in attack.stdout.splitlines()
    second = pywasi_run(home, str(victim))
    assert (second.returncode, second.stderr) == (22, "")


def test_the_cache_itself_cannot_be_preopened(home: Path) -> None:
    assert run(B) == 22
    with pytest.raises(PreopenError, match="compiled-module cache"):
        WASI(version="preview1", preopens={"/cache": str(cache_dir(home))})


def test_cache_reached_through_another_mount_is_refused(home: Path) -> None:
    """The same directory mounted elsewhere (a container's bind mount, say) is still the
    cache: it is recognised by device and inode, not by path."""
    if subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode:
        pytest.skip("cannot make a private mount namespace here")
    assert run(B) == 22
    (home / "mirror").mkdir()
    bind_then_run = ("unshare", "-m", "sh", "-c", 'mount --bind "$1" "$2" && shift 2 && "$@"',
                     "sh", str(cache_dir(home)), str(home / "mirror"))
    attack = pywasi_run(home, "--dir", str(home), str(build_c("cache_attack")), str(home),
                        entry(home, B).name, wrapper=bind_then_run)
    if "mount:" in attack.stderr:
        pytest.skip(f"cannot bind-mount here: {attack.stderr}")
    lines = attack.stdout.splitlines()
    assert "refused read key via another mount: Permission denied" in lines, attack.stdout
    assert "refused list cache via another mount: Permission denied" in lines
    assert attack.returncode == 0


@pytest.fixture
def settled_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files count as settled as soon as written (a test cannot wait for their times to age)."""
    monkeypatch.setattr(cache, "_SETTLED_NS", -10**12)


class CountingReads:
    """A module file opened by the cache, counting the bytes read from it."""

    def __init__(self, file: BinaryIO, counts: list[int]) -> None:
        self._file = file
        self._counts = counts

    def __enter__(self) -> CountingReads:
        return self

    def __exit__(self, *_: object) -> None:
        self._file.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)

    def read(self, size: int = -1) -> bytes:
        data = self._file.read(size)
        self._counts.append(len(data))
        return data


def test_an_unchanged_module_file_is_neither_read_nor_hashed(
        home: Path, tmp_path: Path, settled_at_once: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Only its first four bytes are read (binary, not text), and nothing is hashed."""
    module = tmp_path / "b.wasm"
    module.write_bytes(B)
    load_module(module)
    assert len(list(cache_dir(home).glob("*.stat"))) == 1
    monkeypatch.setattr(cache, "_content_key", lambda *_: pytest.fail("hashed the module"))
    reads: list[int] = []
    opened: list[str] = []

    def counting_open(path: str, mode: str) -> CountingReads:
        opened.append(f"{path} {mode}")
        return CountingReads(open(path, "rb"), reads)  # noqa: SIM115 (closed by the cache)

    monkeypatch.setattr(cache, "open", counting_open, raising=False)
    with compiling_refused():
        load_module(module)
    assert opened == [f"{module} rb"], "the cache no longer opens module files with open()"
    assert sum(reads) <= len(b"\0asm"), f"read {sum(reads)} bytes of the module"


def test_a_genuine_index_record_copied_under_another_files_name_is_ignored(
        home: Path, tmp_path: Path, settled_at_once: None) -> None:
    """A record's MAC covers the file state it is named by, not just the key it holds: one
    made for a.wasm, copied over b.wasm's, must not make b.wasm run a.wasm's code."""
    a, b = tmp_path / "a.wasm", tmp_path / "b.wasm"
    a.write_bytes(A)
    b.write_bytes(B)
    load_module(a)
    (record_of_a,) = cache_dir(home).glob("*.stat")
    load_module(b)
    (record_of_b,) = set(cache_dir(home).glob("*.stat")) - {record_of_a}
    shutil.copyfile(record_of_a, record_of_b)
    wasi = WASI(version="preview1")
    assert wasi.start(pywasi.instantiate(wasi, b)) == 22


def test_a_file_changed_too_recently_is_hashed_at_every_load(
        home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Within one tick of the timestamps a file can change again with its state (size,
    times) unchanged: a state that recent vouches for nothing, so it is recorded for no
    later load. Here the load comes 1 ms after the change, and the second write looks, to
    fstat, like one within the same tick (as on a file system with coarse timestamps)."""
    module = tmp_path / "m.wasm"
    module.write_bytes(A)
    state = os.stat(module)
    changed = max(state.st_mtime_ns, state.st_ctime_ns)
    monkeypatch.setattr(time, "time_ns", lambda: changed + 10**6)
    wasi = WASI(version="preview1")
    assert wasi.start(pywasi.instantiate(wasi, module)) == 11
    assert list(cache_dir(home).glob("*.stat")) == []
    module.write_bytes(B)  # as long as A, so only the times could tell
    real_fstat = os.fstat

    def same_tick_fstat(fd: int) -> os.stat_result:
        found = real_fstat(fd)
        return state if (found.st_dev, found.st_ino) == (state.st_dev, state.st_ino) else found

    monkeypatch.setattr(os, "fstat", same_tick_fstat)
    wasi = WASI(version="preview1")
    assert wasi.start(pywasi.instantiate(wasi, module)) == 22


def test_a_rewritten_module_file_is_hashed_again(home: Path, tmp_path: Path,
                                                 settled_at_once: None) -> None:
    """Same size, same modification time: the change time still tells."""
    module = tmp_path / "m.wasm"
    module.write_bytes(A)
    times = os.stat(module).st_atime_ns, os.stat(module).st_mtime_ns
    wasi = WASI(version="preview1")
    assert wasi.start(pywasi.instantiate(wasi, module)) == 11
    module.write_bytes(B)
    os.utime(module, ns=times)
    wasi = WASI(version="preview1")
    assert wasi.start(pywasi.instantiate(wasi, module)) == 22


def test_a_forged_index_record_is_ignored(home: Path, tmp_path: Path,
                                          settled_at_once: None) -> None:
    """An index record pointing at another module's entry, without the secret's MAC."""
    module = tmp_path / "b.wasm"
    module.write_bytes(B)
    assert run(A) == 11
    load_module(module)
    (record,) = cache_dir(home).glob("*.stat")
    key_of_a = bytes.fromhex(entry(home, A).name.removesuffix(".cwasm"))
    record.write_bytes(key_of_a + record.read_bytes()[32:])
    wasi = WASI(version="preview1")
    assert wasi.start(pywasi.instantiate(wasi, module)) == 22


def test_a_checked_entry_is_not_macced_again_while_unchanged(
        home: Path, settled_at_once: None, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run(B) == 22  # compiled and written
    assert run(B) == 22  # checked, and marked as checked in this state
    assert len(list(cache_dir(home).glob("*.ok"))) == 1
    real_mac = cache._mac

    def mac(secret: bytes, magic: bytes, *parts: bytes | memoryview) -> bytes:
        assert magic != MAGIC, "the code was MACed again"
        return real_mac(secret, magic, *parts)

    monkeypatch.setattr(cache, "_mac", mac)
    with compiling_refused():
        assert run(B) == 22


def test_an_entry_changed_after_its_check_is_checked_again(home: Path,
                                                           settled_at_once: None) -> None:
    """The marker vouches for one state of the entry: rewritten (here with another module's
    code under a MAC made without the secret), it is checked, refused and recompiled."""
    assert (run(A), run(B), run(B)) == (11, 22, 22)
    assert len(list(cache_dir(home).glob("*.ok"))) == 1
    code_of_a = entry(home, A).read_bytes()[HEADER_END:]
    entry(home, B).write_bytes(forge(b"\0" * 32, B, code_of_a))
    assert run(B) == 22
