"""Host directories and files as `WasiFile`s, owning a host descriptor each."""

from __future__ import annotations

import os

from ..abi.types import Filetype
from .files import Filestat, WasiFile
from .stdio import filestat_of


class HostDir(WasiFile):
    """A host directory, held open by descriptor so renames on the host cannot redirect it."""

    filetype = Filetype.DIRECTORY

    def __init__(self, dir_fd: int) -> None:
        self.dir_fd = dir_fd

    @classmethod
    def open(cls, host_path: str) -> HostDir:
        return cls(os.open(host_path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))

    def fileno(self) -> int | None:
        return self.dir_fd

    def close(self) -> None:
        os.close(self.dir_fd)

    def stat(self) -> Filestat:
        return filestat_of(os.fstat(self.dir_fd))
