"""The snapshot-0 ABI (``wasi_unstable``), checked byte by byte with hand-written .wat guests.

Expected bytes are built here from the witx field offsets, independently of
`pywasi.abi.layouts`, so a wrong layout there cannot make these tests agree with it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import pywasi
from guest import TESTS, run_guest

WAT = TESTS / "wat"
DATA = b"0123456789ABCDEF"
UNTOUCHED = b"\xaa"
ERRNO_INVAL = 28
SOCK_SHUTDOWN = 1 << 28
SOCK_ACCEPT = 1 << 29
FILETYPE_REGULAR_FILE = 4
FILETYPE_SOCKET_STREAM = 6
EVENTTYPE_CLOCK = 0
EVENTTYPE_FD_WRITE = 2


def u32(data: bytes, at: int) -> int:
    return int.from_bytes(data[at:at + 4], "little")


def u64(data: bytes, at: int) -> int:
    return int.from_bytes(data[at:at + 8], "little")


def unstable_filestat(st: os.stat_result) -> bytes:
    """The 56-byte snapshot-0 filestat: nlink is a u32 at 20, size follows at 24."""
    out = bytearray(56)
    out[0:8] = st.st_dev.to_bytes(8, "little")
    out[8:16] = st.st_ino.to_bytes(8, "little")
    out[16] = FILETYPE_REGULAR_FILE
    out[20:24] = st.st_nlink.to_bytes(4, "little")
    out[24:32] = st.st_size.to_bytes(8, "little")
    out[32:40] = st.st_atime_ns.to_bytes(8, "little")
    out[40:48] = st.st_mtime_ns.to_bytes(8, "little")
    out[48:56] = st.st_ctime_ns.to_bytes(8, "little")
    return bytes(out)


def event(userdata: int, error: int, type_: int, nbytes: int = 0, flags: int = 0) -> bytes:
    """A 32-byte event: userdata @0, error u16 @8, type u8 @10, nbytes @16, flags u16 @24."""
    out = bytearray(32)
    out[0:8] = userdata.to_bytes(8, "little")
    out[8:10] = error.to_bytes(2, "little")
    out[10] = type_
    out[16:24] = nbytes.to_bytes(8, "little")
    out[24:26] = flags.to_bytes(2, "little")
    return bytes(out)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    (tmp_path / "data.txt").write_bytes(DATA)
    os.link(tmp_path / "data.txt", tmp_path / "second-link")  # nlink 2, not 1
    return tmp_path


def check_files_output(out: bytes, data_dir: Path) -> None:
    assert len(out) == 232
    assert u32(out, 0) == 0  # path_open
    # fd_seek: whence 2 is SET, 0 is CUR, 1 is END in snapshot 0.
    assert (u32(out, 8), u64(out, 16)) == (0, 5)
    assert (u32(out, 24), u64(out, 32)) == (0, 8)
    assert (u32(out, 40), u64(out, 48)) == (0, len(DATA) - 2)
    assert u32(out, 56) == ERRNO_INVAL  # whence 3
    assert (u32(out, 60), u32(out, 64), out[68:69]) == (0, 1, DATA[-2:-1])
    st = os.stat(data_dir / "data.txt")
    assert st.st_nlink == 2
    for errno_at, buffer_at in ((72, 80), (152, 160)):  # fd_filestat_get, path_filestat_get
        assert u32(out, errno_at) == 0
        assert out[buffer_at:buffer_at + 56] == unstable_filestat(st)
        assert out[buffer_at + 56:buffer_at + 72] == UNTOUCHED * 16


def test_seek_and_filestat_layouts(data_dir: Path) -> None:
    run = run_guest(WAT / "unstable_files.wat", preopens={"/data": str(data_dir)},
                    version="unstable")
    assert run.exit_code == 0
    check_files_output(run.stdout, data_dir)


def test_poll_subscription_layout() -> None:
    run = run_guest(WAT / "unstable_poll.wat", version="unstable")
    out = run.stdout
    assert run.exit_code == 0 and len(out) == 224
    # Poll 1: stdout (a regular file) is ready at once; the 10 s clock is not. The fd_write
    # subscription is found only at the 56-byte stride.
    assert (u32(out, 0), u32(out, 4)) == (0, 1)
    assert out[8:40] == event(0x2222, 0, EVENTTYPE_FD_WRITE)
    assert out[40:72] == UNTOUCHED * 32
    # Poll 2: absolute MONOTONIC deadline 20 ms after t0.
    assert (u32(out, 72), u32(out, 76)) == (0, 1)
    assert out[96:128] == event(0x3333, 0, EVENTTYPE_CLOCK)
    assert 20_000_000 <= u64(out, 88) - u64(out, 80) < 1_000_000_000
    # Poll 3: the REALTIME deadline 15 ms ahead beats the MONOTONIC one 1 s ahead.
    assert (u32(out, 128), u32(out, 132)) == (0, 1)
    assert out[152:184] == event(0x5555, 0, EVENTTYPE_CLOCK)
    assert out[184:216] == UNTOUCHED * 32
    assert 14_000_000 <= u64(out, 144) - u64(out, 136) < 1_000_000_000
    # Poll 4: no subscriptions is EINVAL, and nevents is left alone.
    assert u32(out, 216) == ERRNO_INVAL
    assert out[220:224] == UNTOUCHED * 4


def fdstat_of_socket(version: str, wat: str) -> bytes:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        read_end, write_end = os.pipe()
        try:
            wasi = pywasi.WASI(version=version, sockets=[listener], stdout=write_end)
            assert wasi.start(pywasi.instantiate(wasi, wat.encode())) == 0
        finally:
            os.close(write_end)
        with os.fdopen(read_end, "rb") as output:
            return output.read()


@pytest.mark.parametrize("version", ["unstable", "preview1"])
def test_socket_rights_follow_the_abi(version: str) -> None:
    wat = (WAT / "unstable_fdstat.wat").read_text()
    if version == "preview1":
        wat = wat.replace('"wasi_unstable"', '"wasi_snapshot_preview1"')
    out = fdstat_of_socket(version, wat)
    assert u32(out, 0) == 0
    assert out[4] == FILETYPE_SOCKET_STREAM
    rights_base = u64(out, 12)
    assert rights_base & SOCK_SHUTDOWN
    assert bool(rights_base & SOCK_ACCEPT) == (version == "preview1")


def test_sock_accept_is_not_importable() -> None:
    wat = (WAT / "unstable_sock_accept.wat").read_text()
    with pytest.raises(pywasi.ModuleLoadError, match="sock_accept"):
        pywasi.instantiate(pywasi.WASI(version="unstable"), wat.encode())
    preview1 = wat.replace('"wasi_unstable"', '"wasi_snapshot_preview1"')
    wasi = pywasi.WASI(version="preview1")
    assert wasi.start(pywasi.instantiate(wasi, preview1.encode())) == 0


def test_cli_picks_unstable_from_the_imports(data_dir: Path) -> None:
    wat = str(WAT / "unstable_files.wat")
    command = [sys.executable, "-m", "pywasi", "run", "--no-cache", "--dir",
               f"{data_dir}::/data", wat]
    run = subprocess.run(command, capture_output=True, check=True)
    check_files_output(run.stdout, data_dir)
    forced = subprocess.run([*command[:4], "--wasi-version", "preview1", *command[4:]],
                            capture_output=True)
    assert forced.returncode == 1
    assert b"wasi_unstable" in forced.stderr
