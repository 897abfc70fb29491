"""Run by CPython-for-WASI in the real-program tests, from a preopened directory.

It works the WASI filesystem calls the way ordinary Python code does (create, write, read, seek,
rename, delete, walk, stat, sqlite3 on a file) and prints only results that are the same on every
correct host, so two hosts' outputs can be compared byte for byte.
"""

import errno
import hashlib
import json
import os
import sqlite3
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "out")


def tree(root: str) -> list[str]:
    """Every directory and file below `root`, with file sizes, in a fixed order."""
    lines = []
    for directory, subdirs, files in os.walk(root):
        subdirs.sort()
        relative = os.path.relpath(directory, root)
        lines.append(f"{relative}/")
        for name in sorted(files):
            size = os.stat(os.path.join(directory, name)).st_size
            lines.append(f"{os.path.join(relative, name)} {size}")
    return lines


def files_and_directories() -> None:
    os.makedirs(os.path.join(OUT, "a", "b", "c"))
    os.mkdir(os.path.join(OUT, "doomed"))
    for index in range(5):
        with open(os.path.join(OUT, "a", f"file{index}.txt"), "w") as file:
            file.write(f"line {index}\n" * (index + 1))
    with open(os.path.join(OUT, "a", "file4.txt"), "a") as file:
        file.write("appended\n")
    with open(os.path.join(OUT, "a", "file4.txt"), "rb") as file:
        file.seek(7)
        print("seek+read:", file.read(6), "tell:", file.tell())
    with open(os.path.join(OUT, "a", "b", "c", "deep.bin"), "wb") as file:
        file.write(bytes(range(256)) * 4)
    os.rename(os.path.join(OUT, "a", "file0.txt"), os.path.join(OUT, "a", "b", "moved.txt"))
    os.rename(os.path.join(OUT, "a", "b", "c"), os.path.join(OUT, "c-renamed"))
    os.remove(os.path.join(OUT, "a", "file1.txt"))
    os.rmdir(os.path.join(OUT, "doomed"))
    print("exists after delete:", os.path.exists(os.path.join(OUT, "a", "file1.txt")),
          os.path.exists(os.path.join(OUT, "doomed")))
    print("listdir a:", sorted(os.listdir(os.path.join(OUT, "a"))))
    try:
        os.rmdir(os.path.join(OUT, "a"))
    except OSError as error:
        print("rmdir non-empty:", type(error).__name__, errno.errorcode[error.errno or 0])
    try:
        os.stat(os.path.join(OUT, "missing.txt"))
    except FileNotFoundError:
        print("stat missing: FileNotFoundError")
    print("isdir/isfile:", os.path.isdir(os.path.join(OUT, "c-renamed")),
          os.path.isfile(os.path.join(OUT, "c-renamed", "deep.bin")))


def database() -> None:
    connection = sqlite3.connect(os.path.join(OUT, "data.sqlite"))
    connection.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, weight REAL)")
    connection.executemany("INSERT INTO items (name, weight) VALUES (?, ?)",
                           [(f"item{index}", index * 1.5) for index in range(200)])
    connection.commit()
    connection.execute("DELETE FROM items WHERE id % 3 = 0")
    connection.commit()
    connection.close()
    connection = sqlite3.connect(os.path.join(OUT, "data.sqlite"))
    count, total = connection.execute("SELECT COUNT(*), SUM(weight) FROM items").fetchone()
    print("sqlite rows:", count, "total weight:", total)
    connection.close()


def encodings() -> None:
    record = {"name": "pywasi", "numbers": list(range(10)), "nested": {"ok": True}}
    with open(os.path.join(OUT, "record.json"), "w") as file:
        json.dump(record, file, sort_keys=True, indent=1)
    with open(os.path.join(OUT, "record.json")) as file:
        print("json round trip:", json.load(file) == record)
    with open(os.path.join(OUT, "c-renamed", "deep.bin"), "rb") as file:
        data = file.read()
    print("sha256 deep.bin:", hashlib.sha256(data).hexdigest())
    compressed = zlib.compress(data * 8, 9)
    with open(os.path.join(OUT, "deep.bin.z"), "wb") as file:
        file.write(compressed)
    with open(os.path.join(OUT, "deep.bin.z"), "rb") as file:
        print("zlib round trip:", zlib.decompress(file.read()) == data * 8,
              "crc32:", zlib.crc32(compressed))


files_and_directories()
database()
encodings()
print("\n".join(tree(OUT)))
sys.stdout.flush()
sys.exit(7)
