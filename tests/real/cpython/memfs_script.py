"""Run by CPython-for-WASI from an in-memory preopen (and, to compare, from a host directory):
reads input.json beside it, writes its result into out/result.json, and prints a summary."""

import hashlib
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))

with open(os.path.join(HERE, "input.json"), encoding="utf-8") as file:
    words = json.load(file)["words"]
counts: dict[str, int] = {}
for word in words:
    counts[word] = counts.get(word, 0) + 1
result = {
    "distinct": len(counts),
    "most_common": sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:5],
    "sha256": hashlib.sha256(" ".join(words).encode()).hexdigest(),
    "listing": sorted(os.listdir(HERE)),
}
os.makedirs(os.path.join(HERE, "out"), exist_ok=True)
with open(os.path.join(HERE, "out", "result.json"), "w", encoding="utf-8") as file:
    json.dump(result, file, indent=1, sort_keys=True)
print("words:", len(words), "distinct:", len(counts))
