"""Text a guest chose, made safe to show: what reaches a terminal or a log line as pywasi's
own output (a trap's backtrace, a traced path) must not move the cursor, ring the bell,
restyle the terminal, reorder what is shown, or start a line of its own."""

from __future__ import annotations

from typing import Final

# Control characters, and the invisible ones that reorder or hide text, as Unicode classes them.
_UNPRINTABLE_CATEGORIES: Final = frozenset({"Cc", "Cf"})


def printable(text: str, keep: str = "") -> str:
    """`text` with its control and format characters escaped (ESC as \\x1b, U+202E as
    \\u202e), but those in `keep` (a message's own newlines, say)."""
    if text.isprintable():  # most text: nothing to look up
        return text
    from unicodedata import category  # only where there is something to escape

    return "".join(
        char.encode("unicode_escape").decode("ascii")
        if category(char) in _UNPRINTABLE_CATEGORIES and char not in keep
        else char
        for char in text
    )
