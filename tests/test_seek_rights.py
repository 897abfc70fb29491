"""Seeking needs FD_SEEK, asking where we are needs only FD_TELL, and the guest's stdio may seek
exactly where the host's descriptor can (a regular file, never a pipe)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bound import Bound, bound
from pywasi.abi.layouts import FDSTAT
from pywasi.abi.types import Errno, Rights, Whence

pytestmark = pytest.mark.one_path

PREOPEN = 3
NAME = b"file"
OUT = 64  # where results are stored


@pytest.fixture
def calls(tmp_path: Path) -> Iterator[Bound]:
    (tmp_path / "file").write_bytes(b"0123456789")
    calls = bound(preopens={"/sandbox": str(tmp_path)})
    yield calls
    calls.wasi.close()


def open_with_rights(calls: Bound, rights: int) -> int:
    """Open the file with all rights, then keep only `rights` (and read it to offset 3)."""
    calls.write(0, NAME)
    assert calls("path_open", PREOPEN, 0, 0, len(NAME), 0, 2**64 - 1, 0, 0, OUT) == 0
    fd = calls.u32(OUT)
    assert calls("fd_seek", fd, 3, Whence.SET, OUT) == 0
    assert calls("fd_fdstat_set_rights", fd, rights, 0) == 0
    return fd


def test_a_tell_only_descriptor_may_ask_where_it_is_and_nothing_else(calls: Bound) -> None:
    fd = open_with_rights(calls, Rights.FD_READ | Rights.FD_TELL)
    assert calls("fd_tell", fd, OUT) == 0
    assert calls.u64(OUT) == 3
    calls.write(OUT, bytes(8))
    assert calls("fd_seek", fd, 0, Whence.CUR, OUT) == 0  # the same question, as a seek
    assert calls.u64(OUT) == 3
    for offset, whence in [(1, Whence.CUR), (-1, Whence.CUR), (0, Whence.SET), (0, Whence.END)]:
        assert calls("fd_seek", fd, offset, whence, OUT) == Errno.NOTCAPABLE, (offset, whence)
    assert calls("fd_tell", fd, OUT) == 0
    assert calls.u64(OUT) == 3  # nothing moved


def test_a_seek_only_descriptor_may_seek_but_not_tell(calls: Bound) -> None:
    fd = open_with_rights(calls, Rights.FD_READ | Rights.FD_SEEK)
    assert calls("fd_tell", fd, OUT) == Errno.NOTCAPABLE
    assert calls("fd_seek", fd, 0, Whence.END, OUT) == 0
    assert calls.u64(OUT) == 10


def stdio_rights(calls: Bound, fd: int) -> int:
    assert calls("fd_fdstat_get", fd, OUT) == 0
    _, _, rights_base, _ = FDSTAT.unpack(calls.read(OUT, FDSTAT.size))
    return int(rights_base)


def test_stdio_on_a_regular_file_may_seek_and_on_a_pipe_may_not() -> None:
    read_end, write_end = os.pipe()
    with tempfile.TemporaryFile() as out:
        out.write(b"already here")
        out.flush()
        calls = bound(stdin=read_end, stdout=out.fileno())
        try:
            seek_and_tell = Rights.FD_SEEK | Rights.FD_TELL
            assert stdio_rights(calls, 1) & seek_and_tell == seek_and_tell
            assert calls("fd_seek", 1, 0, Whence.END, OUT) == 0
            assert calls.u64(OUT) == len(b"already here")
            assert calls("fd_tell", 1, OUT) == 0
            assert calls.u64(OUT) == len(b"already here")

            assert stdio_rights(calls, 0) & seek_and_tell == 0
            assert calls("fd_tell", 0, OUT) != 0
            assert calls("fd_seek", 0, 0, Whence.CUR, OUT) != 0
        finally:
            calls.wasi.close()
            os.close(read_end)
            os.close(write_end)

