"""Struct layouts of both ABIs as data, so system calls never branch on the WASI version.

Offsets follow the witx C layout rules (natural alignment, little endian). The `Abi` record
holds everything that differs between ``wasi_snapshot_preview1`` and ``wasi_unstable``.
"""

from __future__ import annotations

from collections.abc import Mapping
from struct import Struct
from typing import Final, NamedTuple

from .signatures import PREVIEW1_SIGNATURES, UNSTABLE_SIGNATURES, Signature
from .types import Rights, Whence

U8: Final = Struct("<B")
U16: Final = Struct("<H")
U32: Final = Struct("<I")
U64: Final = Struct("<Q")
U32_PAIR: Final = Struct("<II")  # two `size` results, or one iovec/ciovec (buf, buf_len)

# fdstat: fs_filetype u8 @0, fs_flags u16 @2, fs_rights_base u64 @8, fs_rights_inheriting @16.
FDSTAT: Final = Struct("<BxH4xQQ")
# prestat: tag u8 @0, prestat_dir.pr_name_len u32 @4.
PRESTAT: Final = Struct("<B3xI")
# dirent: d_next u64 @0, d_ino u64 @8, d_namlen u32 @16, d_type u8 @20; 24 bytes.
DIRENT: Final = Struct("<QQIB3x")
# event: userdata u64 @0, error u16 @8, type u8 @10, fd_readwrite.nbytes u64 @16, .flags u16 @24.
EVENT: Final = Struct("<QHB5xQH6x")
# subscription header: userdata u64 @0, union tag u8 @8; the union body starts at @16.
SUBSCRIPTION_HEADER: Final = Struct("<QB")
SUBSCRIPTION_BODY_OFFSET: Final = 16
# subscription_fd_readwrite: file_descriptor u32.
SUBSCRIPTION_FD: Final = U32


class Abi(NamedTuple):
    """Everything a WASI version fixes about the binary interface."""

    name: str
    import_module: str
    signatures: Mapping[str, Signature]
    # filestat packs (dev, ino, filetype, nlink, size, atim, mtim, ctim).
    filestat: Struct
    max_nlink: int
    # subscription_clock unpacks to (id, timeout, precision, flags).
    subscription_clock: Struct
    subscription_size: int
    # The guest's whence numbers, mapped to the host's meaning.
    whence: Mapping[int, Whence]
    all_rights: int


PREVIEW1: Final = Abi(
    name="preview1",
    import_module="wasi_snapshot_preview1",
    signatures=PREVIEW1_SIGNATURES,
    filestat=Struct("<QQB7xQQQQQ"),  # 64 bytes, nlink u64 @24
    max_nlink=(1 << 64) - 1,
    subscription_clock=Struct("<I4xQQH6x"),  # 32 bytes
    subscription_size=48,
    whence={0: Whence.SET, 1: Whence.CUR, 2: Whence.END},
    all_rights=Rights.ALL,
)

UNSTABLE: Final = Abi(
    name="unstable",
    import_module="wasi_unstable",
    signatures=UNSTABLE_SIGNATURES,
    filestat=Struct("<QQB3xIQQQQ"),  # 56 bytes, nlink u32 @20
    max_nlink=(1 << 32) - 1,
    # A leading u64 `identifier` (opaque to the host) shifts every field by 8.
    subscription_clock=Struct("<8xI4xQQH6x"),  # 40 bytes
    subscription_size=56,
    whence={0: Whence.CUR, 1: Whence.END, 2: Whence.SET},
    all_rights=Rights.ALL & ~Rights.SOCK_ACCEPT,
)

ABIS: Final[Mapping[str, Abi]] = {abi.name: abi for abi in (PREVIEW1, UNSTABLE)}
