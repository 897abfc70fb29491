"""Batches of jobs (`pywasi.run_batch`): throughput of 200 short jobs and of 8 compute-bound
jobs from one module on 1 and 2 threads, 2 spawn processes and a 2-worker Dask LocalCluster,
and the per-job overhead of a batch against a hand-written loop of `instantiate()` + `start()`.

    python bench/batch.py [--short N] [--compute N] [--iterations N] [--rounds N]

The module is bench/c/compute.c; a short job runs 1,000 iterations, a compute-bound one
`--iterations`. Each figure is the best of `--rounds` runs (the machine is shared), measured
after every worker has compiled the module once; short jobs are timed interleaved with the
hand-written loop, so both see the same load.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial

import distributed

import pywasi
from pywasi import Job
from run import build


def hand_written(wasm: bytes, jobs: list[Job]) -> None:
    """What an embedder writes without batches: one shared module, a WASI per guest."""
    module = pywasi.load_module(wasm)
    for job in jobs:
        out, err = io.BytesIO(), io.BytesIO()
        wasi = pywasi.WASI(version="preview1", args=job.args, stdout=out, stderr=err)
        with pywasi.instantiate(wasi, module) as instance:
            assert wasi.start(instance) == 0


def in_a_thread(run: Callable[[], None]) -> None:
    """`run` off the main thread, as a batch's workers are (where no Ctrl-C is watched for)."""
    worker = threading.Thread(target=run)
    worker.start()
    worker.join()


def batch(executor: Executor, jobs: list[Job]) -> None:
    with pywasi.run_batch(jobs, executor) as results:
        assert all(result.ok for result in results)


def best(rounds: int, run: Callable[[], None]) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


@contextmanager
def executors() -> Iterator[dict[str, Executor]]:
    spawn = multiprocessing.get_context("spawn")
    with ThreadPoolExecutor(1) as one, ThreadPoolExecutor(2) as two, \
            ProcessPoolExecutor(2, mp_context=spawn) as processes, \
            distributed.LocalCluster(  # type: ignore[no-untyped-call]
                processes=True, n_workers=2, threads_per_worker=1, dashboard_address=":0"
            ) as cluster, distributed.Client(cluster) as client:  # type: ignore[no-untyped-call]
        yield {"1 thread": one, "2 threads": two, "2 processes": processes,
               "Dask, 2 workers": client.get_executor(pure=False)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", type=int, default=200)
    parser.add_argument("--compute", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=50_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    wasm = build("compute").read_bytes()
    short = [Job(wasm, args=["compute", "1000"]) for _ in range(options.short)]
    compute = [Job(wasm, args=["compute", str(options.iterations)])
               for _ in range(options.compute)]
    with executors() as pools:
        for pool in pools.values():  # each worker compiles (or loads) the module once
            batch(pool, short[:8])
        hand_written(wasm, short[:8])
        runs: dict[str, Callable[[], None]] = {"hand-written loop": partial(hand_written, wasm,
                                                                               short)}
        runs["the loop, in a thread"] = partial(in_a_thread, partial(hand_written, wasm, short))
        runs.update({name: partial(batch, pool, short) for name, pool in pools.items()})
        shortest = {name: float("inf") for name in runs}
        for _ in range(options.rounds):  # interleaved: each round sees the same load
            for name, run in runs.items():
                shortest[name] = min(shortest[name], best(1, run))
        loop = shortest["hand-written loop"]
        for name, seconds in shortest.items():
            print(f"{name:21} {len(short)} short jobs: {len(short) / seconds:6.0f} jobs/s, "
                  f"{seconds / len(short) * 1e6:6.0f} µs/job ({seconds / loop:.2f}x the loop)")
        for name, pool in pools.items():
            seconds = best(max(1, options.rounds // 2), partial(batch, pool, compute))
            print(f"{name:21} {len(compute)} compute-bound jobs ({options.iterations} "
                  f"iterations): {len(compute) / seconds:5.2f} jobs/s")


if __name__ == "__main__":
    main()
