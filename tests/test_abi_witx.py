"""Every layout and number in `pywasi.abi.layouts` recomputed from the witx files of each ABI.

A small witx reader lays the types out by the C rules witx uses (natural alignment, records
padded to their alignment, a union's body aligned to its widest variant) and the test compares
field offsets and sizes with the `struct` formats pywasi packs and unpacks with.
"""

from __future__ import annotations

import re
from pathlib import Path
from struct import Struct, calcsize

import pytest

from pywasi.abi import layouts
from pywasi.abi.layouts import Abi
from pywasi.abi.types import Rights, Whence

REPO = Path(__file__).resolve().parent.parent


# The witx files of both ABIs, vendored from the WASI specification with its license
# (tests/spec/LICENSE.md), so that a clone of the repository runs every test.
SPEC = REPO / "tests" / "spec"
Expr = str | list["Expr"]
WITX = {
    "preview1": (SPEC / "wasi-preview1", "wasi_snapshot_preview1.witx"),
    "unstable": (SPEC / "wasi-unstable", "wasi_unstable.witx"),
}
SCALARS = {"u8": 1, "s8": 1, "u16": 2, "s16": 2, "u32": 4, "s32": 4, "u64": 8, "s64": 8,
           "handle": 4}

pytestmark = pytest.mark.one_path


def parse(text: str) -> list[Expr]:
    tokens = re.findall(r'\(|\)|"[^"]*"|[^\s()]+', re.sub(r";;.*", "", text))
    stack: list[list[Expr]] = [[]]
    for token in tokens:
        if token == "(":
            stack.append([])
        elif token == ")":
            done = stack.pop()
            stack[-1].append(done)
        else:
            stack[-1].append(token)
    return stack[0]


class Witx:
    def __init__(self, version: str) -> None:
        folder, module = WITX[version]
        self.types = {expr[1]: expr[2] for expr in parse((folder / "typenames.witx").read_text())
                      if isinstance(expr, list) and expr[0] == "typename"}
        (module_expr,) = [e for e in parse((folder / module).read_text()) if e[0] == "module"]
        self.functions = {str(e[2][1]).strip('"') for e in module_expr
                          if isinstance(e, list) and e[:2] == ["@interface", "func"]}

    def resolve(self, type_: Expr) -> Expr:
        while isinstance(type_, str) and type_.startswith("$"):
            type_ = self.types[type_]
        return type_

    def members(self, type_: Expr) -> list[Expr]:
        """The names (flags, enum cases) or fields (records) of a type, in order."""
        body = self.resolve(type_)
        assert isinstance(body, list)
        return [e for e in body[1:] if not (isinstance(e, list) and e[0] == "@witx")]

    def size_align(self, type_: Expr) -> tuple[int, int]:
        body = self.resolve(type_)
        if isinstance(body, str):
            return SCALARS[body], SCALARS[body]
        if body == ["handle"]:
            return SCALARS["handle"], SCALARS["handle"]
        if body[0] in ("enum", "flags"):
            return self.size_align(body[1][2])  # (@witx tag u8) / (@witx repr u16)
        if body[0] == "record":
            _, size, align = self.layout(type_)
            return size, align
        if body[0] == "union":
            tag_size, _ = self.size_align(body[1][2])
            variants = [self.size_align(v) for v in self.members(type_)]
            align = max(a for _, a in variants)
            return round_up(round_up(tag_size, align) + max(s for s, _ in variants), align), align
        raise AssertionError(f"no layout rule for {body[0]}")

    def layout(self, type_: Expr) -> tuple[dict[str, int], int, int]:
        """A record's leaf fields (nested records flattened as a.b) at their offsets."""
        offsets: dict[str, int] = {}
        end, align = 0, 1
        for field in self.members(type_):
            assert isinstance(field, list) and isinstance(field[1], str)
            size, field_align = self.size_align(field[2])
            at = round_up(end, field_align)
            body = self.resolve(field[2])
            if isinstance(body, list) and body[0] == "record":
                inner, _, _ = self.layout(field[2])
                offsets.update({f"{field[1]}.{name}": at + off for name, off in inner.items()})
            else:
                offsets[field[1]] = at
            end, align = at + size, max(align, field_align)
        return offsets, round_up(end, align), align


def round_up(value: int, align: int) -> int:
    return -(-value // align) * align


def struct_offsets(layout: Struct) -> list[int]:
    """Where each non-padding field of a `struct` format starts."""
    offsets, at = [], 0
    for count, code in re.findall(r"(\d*)([a-zA-Z?])", layout.format.lstrip("<")):
        width = calcsize("<" + code) * int(count or 1)
        if code != "x":
            offsets.append(at)
        at += width
    return offsets


@pytest.fixture(params=["preview1", "unstable"])
def abi(request: pytest.FixtureRequest) -> tuple[Abi, Witx]:
    return layouts.ABIS[request.param], Witx(request.param)


def check(layout: Struct, witx: Witx, type_: str, skip: tuple[str, ...] = ()) -> None:
    offsets, size, _ = witx.layout(type_)
    assert layout.size == size
    assert struct_offsets(layout) == [off for name, off in offsets.items() if name not in skip]


def test_shared_layouts(abi: tuple[Abi, Witx]) -> None:
    _, witx = abi
    check(layouts.FDSTAT, witx, "$fdstat")
    check(layouts.DIRENT, witx, "$dirent")
    check(layouts.EVENT, witx, "$event")
    assert layouts.PRESTAT.size == witx.size_align("$prestat")[0]
    assert struct_offsets(layouts.PRESTAT) == [0, witx.size_align("$prestat_dir")[1]]
    sub_offsets, _, _ = witx.layout("$subscription")
    assert struct_offsets(layouts.SUBSCRIPTION_HEADER) == [0, sub_offsets["$u"]]
    body_offset = sub_offsets["$u"] + round_up(1, witx.size_align("$subscription_u")[1])
    assert body_offset == layouts.SUBSCRIPTION_BODY_OFFSET


def test_version_specific_layouts(abi: tuple[Abi, Witx]) -> None:
    version, witx = abi
    check(version.filestat, witx, "$filestat")
    nlink_size, _ = witx.size_align("$linkcount")
    assert version.max_nlink == (1 << (8 * nlink_size)) - 1
    # The host ignores snapshot 0's `identifier`, so its struct format skips it as padding.
    check(version.subscription_clock, witx, "$subscription_clock", skip=("$identifier",))
    assert version.subscription_size == witx.size_align("$subscription")[0]
    whence = [str(name).lstrip("$").upper() for name in witx.members("$whence")]
    assert version.whence == {number: Whence[name] for number, name in enumerate(whence)}


def test_rights_and_functions(abi: tuple[Abi, Witx]) -> None:
    version, witx = abi
    rights = [str(name).lstrip("$").upper() for name in witx.members("$rights")]
    expected = 0
    for bit, name in enumerate(rights):
        assert getattr(Rights, name) == 1 << bit
        expected |= 1 << bit
    assert version.all_rights == expected
    assert set(version.signatures) == witx.functions
