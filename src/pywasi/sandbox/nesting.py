"""Nested mappings (a memory tree, its `to_dict`) walked, shown and rebuilt with stacks.

A guest can nest directories deeper than Python's recursion limit, and Python's own repr,
pickle and deepcopy of nested dicts recurse: so whatever shows or carries a guest's tree (a
`MemoryDir`'s repr, a batch `Result`) goes through here instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

Entry = tuple[int, Any, Any]
"""One entry of a walk: (its depth, its key, its value); a mapping's entries follow it."""


def walk(tree: Mapping[Any, Any]) -> Iterator[Entry]:
    """Every entry of `tree` and of the mappings in it, depth first, in order."""
    stack = [iter(tree.items())]
    while stack:
        for key, value in stack[-1]:
            yield len(stack) - 1, key, value
            if isinstance(value, Mapping):
                stack.append(iter(value.items()))
                break
        else:
            stack.pop()


def equal(one: Mapping[Any, Any], other: Mapping[Any, Any]) -> bool:
    """Whether two nested mappings are equal as dicts are (the same keys, equal values)."""
    pairs = [(one, other)]
    while pairs:
        mine, theirs = pairs.pop()
        if len(mine) != len(theirs):
            return False
        for key, value in mine.items():
            if key not in theirs:
                return False
            their = theirs[key]
            if isinstance(value, Mapping) and isinstance(their, Mapping):
                pairs.append((value, their))
            elif value != their:
                return False
    return True


def render(entries: Iterable[Entry]) -> str:
    """What ``repr`` of the mapping `entries` walk shows, a dict's repr at every level."""
    parts = ["{"]
    depth, first = 0, True
    for level, key, value in entries:
        parts.append("}" * (depth - level))
        first = first and depth == level
        depth = level
        parts.append(("" if first else ", ") + repr(key) + ": ")
        if isinstance(value, Mapping):
            parts.append("{")
            depth, first = depth + 1, True
        else:
            parts.append(repr(value))
            first = False
    parts.append("}" * (depth + 1))
    return "".join(parts)


def flatten(tree: Mapping[Any, Any]) -> list[Entry]:
    """`tree` as the list of its walk, a mapping's value left out (None): what pickle can
    carry at any depth (`unflatten` gives the tree back, as dicts)."""
    return [(depth, key, None if isinstance(value, Mapping) else value)
            for depth, key, value in walk(tree)]


def unflatten(entries: Iterable[Entry]) -> dict[Any, Any]:
    """The dicts `flatten` listed."""
    top: dict[Any, Any] = {}
    stack = [top]
    for depth, key, value in entries:
        del stack[depth + 1:]
        if value is None:
            value = {}
            stack.append(value)
        stack[depth][key] = value
    return top
