"""The sandbox: the fd table, the objects fds name, and safe path resolution.

Nothing here knows about guest memory or the engine; it works on Python bytes and ints.
"""

from .fdtable import Descriptor, FdTable
from .files import Dirent, Filestat, Readiness, WasiFile

__all__ = ["Descriptor", "Dirent", "FdTable", "Filestat", "Readiness", "WasiFile"]
