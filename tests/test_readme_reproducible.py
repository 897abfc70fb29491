"""The README's "Reproducible runs" examples run as written, in one namespace."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).parent.parent / "README.md"
SECTION = "## Reproducible runs"


def test_readme_reproducible_examples_run() -> None:
    text = README.read_text()
    start = text.index(SECTION)
    blocks = re.findall(r"```python\n(.*?)```", text[start:text.find("\n## ", start + 1)],
                        re.DOTALL)
    assert len(blocks) == 2
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102 - our own README
    assert namespace["recorded"]
