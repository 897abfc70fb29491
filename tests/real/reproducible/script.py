"""Run by CPython-for-WASI in deterministic mode (tests/reproducible_real.py): everything a
host varies run to run, printed, and a file written."""

import os
import random
import time

print("time", time.time(), time.monotonic(), time.process_time())
print("random", random.random(), random.getrandbits(64), os.urandom(8).hex())
print("listdir", os.listdir("/work"))
print("hash", hash("reproducible"), hash(b"bytes too"))
stat = os.stat("/work/script.py")
print("stat", stat.st_ino, stat.st_dev, stat.st_mtime_ns)
time.sleep(0.25)
print("after sleep", time.time())
with open("/work/out.txt", "w") as out:
    out.write(f"written at {time.time()}\n")
