"""Jobs from asyncio: ``await pywasi.run_async(job)`` and ``async for result in
pywasi.run_batch_async(jobs)``. Guests run in worker threads (or over the executor given), so
the event loop never waits on one; cancelling the task interrupts its guests, and returns once
they have ended, so that nothing of theirs outlives it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import Executor

from .batch import Batch, Job, Progress, Result, run_job
from .batch_stop import BatchStop


async def run_async(job: Job) -> Result:
    """`pywasi.run(job)` in a thread of the loop's default executor; cancelling the awaiting
    task interrupts the guest."""
    stop = BatchStop(None)
    try:
        running = asyncio.get_running_loop().run_in_executor(None, run_job, job, stop.line)
        try:
            return await asyncio.shield(running)
        except asyncio.CancelledError:
            stop.stop()
            await asyncio.wait([running])  # promptly: the guest was interrupted
            raise
    finally:
        stop.close()


async def run_batch_async(jobs: Iterable[Job], executor: Executor | None = None, *,
                          ordered: bool = True,
                          progress: Callable[[Progress], object] | None = None,
                          stop_host: str = "127.0.0.1") -> AsyncIterator[Result]:
    """`pywasi.run_batch` for asyncio: the same arguments and results, awaited. Cancelling
    the task, or leaving the loop early, stops the batch."""
    batch = Batch(jobs, executor, ordered=ordered, progress=progress, stop_host=stop_host)
    waiting = {asyncio.wrap_future(future): index
               for index, future in enumerate(batch._futures)}
    pending = set(waiting)
    next_index = 0
    try:
        while pending:
            finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for future in sorted(finished, key=waiting.__getitem__):
                result = batch._record(waiting[future], future.result())
                if not ordered:
                    yield result
            while ordered and next_index in batch.results:
                yield batch.results[next_index]
                next_index += 1
    finally:
        running = batch._begin_close()
        if running is not None:
            try:
                if running:
                    await asyncio.wait([asyncio.wrap_future(future) for future in running])
            finally:
                await asyncio.to_thread(batch._end_close, running)
