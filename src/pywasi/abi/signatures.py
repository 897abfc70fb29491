"""Core-wasm signatures of every WASI preview1 function, lowered from the witx files.

Each entry gives the parameters as `struct` codes: ``I`` an i32 (read as u32), ``Q`` an i64
read as u64, ``q`` an i64 read as s64. Every function returns an i32 errno except `proc_exit`,
which returns nothing. Results are written through the trailing out-pointer parameters.
"""

from __future__ import annotations

from typing import Final, NamedTuple


class Signature(NamedTuple):
    params: str
    returns_errno: bool = True


PREVIEW1_SIGNATURES: Final[dict[str, Signature]] = {
    "args_get": Signature("II"),
    "args_sizes_get": Signature("II"),
    "environ_get": Signature("II"),
    "environ_sizes_get": Signature("II"),
    "clock_res_get": Signature("II"),
    "clock_time_get": Signature("IQI"),
    "fd_advise": Signature("IQQI"),
    "fd_allocate": Signature("IQQ"),
    "fd_close": Signature("I"),
    "fd_datasync": Signature("I"),
    "fd_fdstat_get": Signature("II"),
    "fd_fdstat_set_flags": Signature("II"),
    "fd_fdstat_set_rights": Signature("IQQ"),
    "fd_filestat_get": Signature("II"),
    "fd_filestat_set_size": Signature("IQ"),
    "fd_filestat_set_times": Signature("IQQI"),
    "fd_pread": Signature("IIIQI"),
    "fd_prestat_get": Signature("II"),
    "fd_prestat_dir_name": Signature("III"),
    "fd_pwrite": Signature("IIIQI"),
    "fd_read": Signature("IIII"),
    "fd_readdir": Signature("IIIQI"),
    "fd_renumber": Signature("II"),
    "fd_seek": Signature("IqII"),
    "fd_sync": Signature("I"),
    "fd_tell": Signature("II"),
    "fd_write": Signature("IIII"),
    "path_create_directory": Signature("III"),
    "path_filestat_get": Signature("IIIII"),
    "path_filestat_set_times": Signature("IIIIQQI"),
    "path_link": Signature("IIIIIII"),
    "path_open": Signature("IIIIIQQII"),
    "path_readlink": Signature("IIIIII"),
    "path_remove_directory": Signature("III"),
    "path_rename": Signature("IIIIII"),
    "path_symlink": Signature("IIIII"),
    "path_unlink_file": Signature("III"),
    "poll_oneoff": Signature("IIII"),
    "proc_exit": Signature("I", returns_errno=False),
    "proc_raise": Signature("I"),
    "sched_yield": Signature(""),
    "random_get": Signature("II"),
    "sock_accept": Signature("III"),
    "sock_recv": Signature("IIIIII"),
    "sock_send": Signature("IIIII"),
    "sock_shutdown": Signature("II"),
}

# Snapshot 0 has the same functions with the same core signatures, minus `sock_accept`.
UNSTABLE_SIGNATURES: Final[dict[str, Signature]] = {
    name: sig for name, sig in PREVIEW1_SIGNATURES.items() if name != "sock_accept"
}
