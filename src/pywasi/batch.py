"""Many guests: jobs as plain data, run in this process or over any `concurrent.futures.Executor`.

A `Job` holds everything one run of a command needs (the module's bytes or path, arguments,
environment, stdin, memory trees, host preopens, limits), and a `Result` everything it left
(exit code, stdout, stderr, the writable memory trees, the trap, times, fuel, memory). Both
are plain picklable data, so a job can run in a thread, another process or on another machine:

    results = list(pywasi.run_batch(jobs))                        # threads of this process
    results = list(pywasi.run_batch(jobs, executor=process_pool))  # or Dask's get_executor()

`run_job` is the worker function every executor calls (importable by name from any process).
It compiles each module once per process, keyed by its sha-256 and the settings the job's
limits need (through `load_module`, so the compiled-module cache serves every process), and
applies every limit inside the worker, where a running guest can be stopped: a future's own
timeout cannot. A trap, a limit reached or proc_exit is a `Result`; only the embedder's own
mistakes (a job that cannot be run) raise. Stopping a batch (Ctrl-C, `Batch.close()`, leaving
the loop early) interrupts its running guests through `batch_stop`, keeps queued jobs from
starting and keeps what finished.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import pickle
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import CancelledError, Executor, Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import KW_ONLY, dataclass, field, fields
from functools import partial
from queue import Empty, SimpleQueue
from types import TracebackType
from typing import Any, Final, NamedTuple, Union

import wasmtime

from .batch_stop import BatchStop, BatchStopped, StopLine, stoppable
from .engine.host_imports import wasi_version
from .engine.wasmtime_engine import WasmtimeInstance, instantiate, load_module
from .errors import GuestInterrupted, GuestTrap, InvalidArgTypeError, InvalidArgValueError
from .limits import Limits
from .sandbox.memfs import MemoryDir
from .sandbox.nesting import equal, flatten, render, unflatten, walk
from .sandbox.readonly import Preopen, ReadOnly
from .wasi import WASI

Tree = MemoryDir | Mapping[str, Any] | bytes | Preopen
"""A memory tree of a job: a `MemoryDir`, a dict as `MemoryDir` takes, the bytes of a zip or
tar archive, or `ReadOnly(...)` of one of those."""

HostDirectory = Union[str, "os.PathLike[str]", Preopen]
"""A host directory the worker has: its path, or `ReadOnly(path)`."""

# A job without limits still runs interruptible, so that stopping its batch stops its compute.
_UNLIMITED: Final = Limits(interruptible=True)


@dataclass(frozen=True)
class Job:
    """One run of a command module: plain data, checked here (a mistake raises now, in the
    caller, with what to do). The worker gets its own copy of the memory trees, so a tree
    given here is never changed: the guest's writes come back in `Result.files`."""

    module: bytes | str | os.PathLike[str]
    """The module's wasm (or wat) bytes, or the path of a file each worker can read (it is
    checked against `sha256`, computed here from the file unless given)."""
    _: KW_ONLY
    args: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    stdin: bytes | str = b""
    files: Mapping[str, Tree] = field(default_factory=dict)
    """Memory trees by guest path; what the guest leaves in the writable ones comes back."""
    preopens: Mapping[str, HostDirectory] = field(default_factory=dict)
    """Host directories by guest path, where the worker has them (`ReadOnly` for read-only)."""
    limits: Limits | None = None
    """The guest's limits (`pywasi.Limits`); none means interruptible and unbounded."""
    version: str | None = None
    """The WASI version (``"preview1"``, ``"unstable"``); by default what the module imports."""
    tag: Any = None
    """Anything picklable of the caller's, handed back as `Result.tag`."""
    sha256: str = ""

    def __reduce__(self) -> tuple[Any, tuple[dict[str, Any], list[str]]]:
        """Pickled with its trees given as nested dicts flat (`nesting`): a guest's deep
        directories, from an earlier `Result`, travel to a worker as they are."""
        values = {item.name: getattr(self, item.name) for item in fields(self)}
        values["files"], nested = self._travelling_files()
        return _unpickled_job, (values, nested)

    def _travelling_files(self) -> tuple[dict[str, Any], list[str]]:
        """`files` as pickled, and the paths of those flattened."""
        nested = [path for path, tree in self.files.items()
                  if isinstance(tree, Mapping) and not isinstance(tree, MemoryDir)]
        return {path: flatten(tree) if isinstance(tree, Mapping) and path in nested else tree
                for path, tree in self.files.items()}, nested

    def __post_init__(self) -> None:
        module = self.module
        if isinstance(module, wasmtime.Module):
            raise InvalidArgTypeError(
                "Job.module is a compiled wasmtime.Module, which cannot travel to another "
                "process or machine (and compiled code from elsewhere is unsafe to load): "
                "pass the module's wasm bytes or its path")
        if isinstance(module, (bytearray, memoryview)):
            module = bytes(module)
        if isinstance(module, bytes):
            digest = hashlib.sha256(module).hexdigest()
            if self.sha256 and self.sha256 != digest:
                raise InvalidArgValueError("Job.sha256 is not the sha-256 of Job.module's bytes: "
                                           "leave it out for bytes (it is computed)")
        elif isinstance(module, (str, os.PathLike)):
            module = os.fspath(module)
            digest = self.sha256 or _file_sha256(module)
        else:
            raise InvalidArgTypeError(f"Job.module must be wasm bytes or a path, not "
                                      f"{type(module).__name__}")
        object.__setattr__(self, "module", module)
        object.__setattr__(self, "sha256", digest)
        _check_strings("args", self.args)
        object.__setattr__(self, "args", tuple(self.args))
        _check_mapping("env", self.env, (str,))
        object.__setattr__(self, "env", dict(self.env))
        if not isinstance(self.stdin, (bytes, str)):
            raise InvalidArgTypeError(f"Job.stdin must be bytes or str, not "
                                      f"{type(self.stdin).__name__}")
        _check_mapping("files", self.files, (MemoryDir, Mapping, bytes, Preopen))
        for path, tree in self.files.items():
            if isinstance(tree, Preopen) and not isinstance(tree.source, (MemoryDir, Mapping,
                                                                          bytes)):
                raise InvalidArgTypeError(
                    f"Job.files[{path!r}] is {tree!r}: files holds memory trees; put host "
                    "directories in Job.preopens")
        object.__setattr__(self, "files", dict(self.files))
        _check_mapping("preopens", self.preopens, (str, os.PathLike, Preopen))
        both = set(self.files) & set(self.preopens)
        if both:
            raise InvalidArgValueError(f"Job.files and Job.preopens both name {sorted(both)}: "
                                       "give each guest path one directory")
        object.__setattr__(self, "preopens", dict(self.preopens))
        if self.limits is not None and not isinstance(self.limits, Limits):
            raise InvalidArgTypeError(f"Job.limits must be a pywasi.Limits or None, not "
                                      f"{type(self.limits).__name__}")
        if self.version not in (None, "preview1", "unstable"):
            raise InvalidArgValueError(f"Job.version must be 'preview1', 'unstable' or None "
                                       f"(what the module imports), not {self.version!r}")


def _file_sha256(path: str) -> str:
    try:
        with open(path, "rb") as file:
            return hashlib.file_digest(file, "sha256").hexdigest()
    except OSError as error:
        raise InvalidArgValueError(
            f"Job.module: cannot read {path!r} ({error.strerror}): pass the module's bytes, "
            "or give sha256= (the file's sha-256) if only the workers have the file") from None


def _check_strings(name: str, value: object) -> None:
    if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
        raise InvalidArgTypeError(f"Job.{name} must be a list or tuple of str, not {value!r}")


def _check_mapping(name: str, value: object, kinds: tuple[type, ...]) -> None:
    if not isinstance(value, Mapping):
        raise InvalidArgTypeError(f"Job.{name} must be a mapping (a dict), not "
                                  f"{type(value).__name__}")
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, kinds):
            raise InvalidArgTypeError(
                f"Job.{name}[{key!r}] must be " + " or ".join(kind.__name__ for kind in kinds)
                + f", not {type(item).__name__}")


def check_travel(job: Job, index: int | None = None) -> None:
    """Raise, naming the field, if `job` cannot be pickled (so cannot reach a worker in
    another process); done for every job before a batch submits any."""
    which = "the job" if index is None else f"job {index}"
    if not isinstance(job, Job):
        raise InvalidArgTypeError(f"{which} is a {type(job).__name__}, not a pywasi.Job")
    for item in fields(job):
        value = job._travelling_files() if item.name == "files" else getattr(job, item.name)
        if value is None or isinstance(value, (bytes, str, Limits)):
            continue
        try:
            pickle.dumps(value)
        except Exception as error:
            raise InvalidArgValueError(
                f"{which}'s {item.name} cannot travel to a worker: pickle.dumps failed with "
                f"{type(error).__name__}: {error}. Give plain data (bytes, str, dicts, "
                "MemoryDir) or objects of classes importable by name") from None


class Trap(NamedTuple):
    """How a guest ended other than by returning or proc_exit."""

    kind: str  # the exception's class name: "GuestTrap", "OutOfFuel", "GuestTimeout"...
    code: str | None  # wasmtime's trap code ("UNREACHABLE", "OUT_OF_FUEL", "INTERRUPT"...)
    message: str


@dataclass(frozen=True)
class Result:
    """What one job left. `exit_code` is None when the guest trapped (see `trap`)."""

    exit_code: int | None
    stdout: bytes
    stderr: bytes
    files: dict[str, dict[str, Any]]
    """Each writable memory tree of the job, as `MemoryDir.to_dict()` gives it after the run."""
    trap: Trap | None
    wall_time: float  # seconds, from instantiation to the guest's end
    cpu_time: float  # seconds of the worker thread's CPU in that time
    fuel_used: int | None  # when the job's limits counted fuel
    memory_size: int | None  # bytes of the guest's memory at its end (the peak: it never shrinks)
    tag: Any = None

    @property
    def ok(self) -> bool:
        """The guest ran to its end and exited with 0."""
        return self.trap is None and self.exit_code == 0

    # A guest's directories may nest deeper than the recursion of Python's own repr, ==
    # and pickle of nested dicts: `files` is shown, compared and pickled by `nesting`.
    def __repr__(self) -> str:
        shown = (f"{item.name}={render(walk(self.files))}" if item.name == "files"
                 else f"{item.name}={getattr(self, item.name)!r}" for item in fields(self))
        return f"Result({', '.join(shown)})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Result):
            return NotImplemented
        return equal(self.files, other.files) and all(
            getattr(self, item.name) == getattr(other, item.name)
            for item in fields(self) if item.name != "files")

    def __reduce__(self) -> tuple[Any, tuple[dict[str, Any]]]:
        values = {item.name: getattr(self, item.name) for item in fields(self)}
        values["files"] = flatten(self.files)
        return _unpickled_result, (values,)


def _unpickled_job(values: dict[str, Any], nested: list[str]) -> Job:
    """The `Job` `Job.__reduce__` pickled (checked when it was made: not again)."""
    values["files"] = {path: unflatten(tree) if path in nested else tree
                       for path, tree in values["files"].items()}
    job: Job = object.__new__(Job)
    for name, value in values.items():
        object.__setattr__(job, name, value)
    return job


def _unpickled_result(values: dict[str, Any]) -> Result:
    """The `Result` `Result.__reduce__` pickled."""
    values["files"] = unflatten(values["files"])
    return Result(**values)


# Compiled modules of this process, by sha-256 and what the job's limits ask of the engine.
_COMPILED: Final[OrderedDict[tuple[Any, ...], wasmtime.Module]] = OrderedDict()
_COMPILED_LOCK: Final = threading.Lock()
_COMPILED_KEPT: Final = 32


def _module_for(job: Job, limits: Limits) -> wasmtime.Module:
    """`job`'s module compiled for the engine its limits need, once per process. The key has
    every limit that can choose an engine (fuel counting, a timeout's epoch checks, the stack
    size, interruption), so each key names one engine."""
    key = (job.sha256, limits.fuel is not None, limits.timeout is not None,
           limits.max_wasm_stack, limits.interruptible)
    with _COMPILED_LOCK:
        module = _COMPILED.get(key)
        if module is None:
            module = _COMPILED[key] = load_module(_wasm(job), limits=limits)
            if len(_COMPILED) > _COMPILED_KEPT:
                _COMPILED.popitem(last=False)
        else:
            _COMPILED.move_to_end(key)
        return module


def _wasm(job: Job) -> bytes:
    if isinstance(job.module, bytes):
        return job.module
    path = os.fspath(job.module)
    try:
        with open(path, "rb") as file:
            wasm = file.read()
    except OSError as error:
        raise InvalidArgValueError(f"Job.module: this worker cannot read {path!r} "
                                   f"({error.strerror}): give every worker the file, or pass "
                                   "the module's bytes") from None
    if hashlib.sha256(wasm).hexdigest() != job.sha256:
        raise InvalidArgValueError(f"Job.module: {path!r} on this worker is not the file the job "
                                   "was made from (its sha-256 differs): give every worker the "
                                   "same file, or pass the module's bytes")
    return wasm


def _tree(source: Tree) -> MemoryDir | Preopen:
    """The worker's own copy of a job's memory tree (hard links, symbolic links and times
    kept), so that neither the job nor another run sees the guest's changes."""
    if isinstance(source, Preopen):
        inner = source.source
        assert isinstance(inner, (MemoryDir, Mapping, bytes))  # checked by Job
        return _tree(inner) if source.fs_mutable else ReadOnly(_tree(inner))
    if isinstance(source, MemoryDir):
        copy: MemoryDir = pickle.loads(pickle.dumps(source))
        copy.parent = None
        return copy
    if isinstance(source, bytes):
        return MemoryDir.from_archive(io.BytesIO(source))
    return MemoryDir(source)


def run_job(job: Job, stop: StopLine | None = None) -> Result:
    """Run `job` in this thread and return its `Result`: the worker function of every
    executor. `stop` is the line of the batch it belongs to (see `batch_stop`)."""
    if not isinstance(job, Job):
        raise InvalidArgTypeError(f"run_job needs a pywasi.Job, not {type(job).__name__}")
    batch = stoppable(stop) if stop is not None else None
    if batch is not None and batch.stopped:
        raise BatchStopped("the batch was stopped before this job began")
    limits = job.limits if job.limits is not None else _UNLIMITED
    module = _module_for(job, limits)
    trees = {path: _tree(source) for path, source in job.files.items()}
    out, err = io.BytesIO(), io.BytesIO()
    wasi = WASI(version=job.version or wasi_version(module), args=job.args, env=job.env,
                stdin=job.stdin, stdout=out, stderr=err, preopens={**job.preopens, **trees},
                limits=limits)
    exit_code: int | None = None
    trap: Trap | None = None
    instance: WasmtimeInstance | None = None
    wall, cpu = time.perf_counter(), time.thread_time()
    try:
        instance = instantiate(wasi, module)
        if batch is not None:
            batch.enter(instance)
        try:
            exit_code = wasi.start(instance)
        finally:
            if batch is not None:
                batch.leave(instance)
    except GuestTrap as error:
        trap = Trap(type(error).__name__, error.trap_code, str(error))
    finally:
        wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
        wasi.close()
    fuel_used = memory_size = None
    if instance is not None:
        if limits.fuel is not None:
            fuel_used = limits.fuel - instance.store.get_fuel()
        if instance.export_kind("memory") == "memory":
            memory_size = instance.wasm_memory().data_len(instance.store)
        instance.close()
    return Result(exit_code, out.getvalue(), err.getvalue(),
                  {path: tree.to_dict() for path, tree in trees.items()
                   if isinstance(tree, MemoryDir)},
                  trap, wall, cpu, fuel_used, memory_size, job.tag)


def run(job: Job) -> Result:
    """Run `job` in this thread (see `Job` and `Result`); Ctrl-C raises KeyboardInterrupt."""
    return run_job(job)


class Progress(NamedTuple):
    done: int  # jobs finished
    total: int
    failed: int  # of those, how many trapped or exited with a code other than 0


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a batch: its running guests were interrupted and its queued jobs not
    started; `results` holds, by job index, the results of the jobs that finished."""

    def __init__(self, results: dict[int, Result], total: int) -> None:
        super().__init__(f"the batch was interrupted: {len(results)} of {total} jobs finished "
                         "(their results are in .results, by job index)")
        self.results = results
        self.unfinished = [index for index in range(total) if index not in results]


class Batch(Iterator[Result]):
    """Jobs submitted to an executor, and their results as an iterator: in the jobs' order,
    or as they finish (`ordered=False`); use it in a ``with`` block, so that it is closed
    however the loop ends. `done`, `failed`, `total` and `results` (by job
    index) say how far it got at any time; `close()` (or leaving a ``with`` block, or the
    loop ending early) stops it: running guests are interrupted, queued jobs never start,
    finished results are kept in `results`. A job that cannot be run raises out of the loop
    (and stops the batch)."""

    def __init__(self, jobs: Iterable[Job], executor: Executor | None = None, *,
                 ordered: bool = True, progress: Callable[[Progress], object] | None = None,
                 stop_host: str = "127.0.0.1") -> None:
        self.jobs = list(jobs)
        for index, job in enumerate(self.jobs):
            check_travel(job, index)
        self.total = len(self.jobs)
        self.done = self.failed = 0
        self.results: dict[int, Result] = {}
        self._ordered = ordered
        self._progress = progress
        self._owned = executor is None
        self._executor = executor if executor is not None else ThreadPoolExecutor(
            os.cpu_count() or 1, thread_name_prefix="pywasi-batch")
        # Threads of this process need no address; anything else may run elsewhere.
        in_process = isinstance(self._executor, ThreadPoolExecutor)
        self._stop = BatchStop(None if in_process else stop_host)
        self._closed = False
        self._futures: list[Future[Result]] = []
        try:
            for job in self.jobs:
                self._futures.append(self._executor.submit(run_job, job, self._stop.line))
        except BaseException:
            self.close()
            raise
        self._iterator = self._results()

    def __iter__(self) -> Batch:
        return self

    def __next__(self) -> Result:
        return next(self._iterator)

    def __enter__(self) -> Batch:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        """Close; Ctrl-C in the block (between results) is a `BatchInterrupted` too."""
        self.close()
        if isinstance(error, KeyboardInterrupt) and not isinstance(error, BatchInterrupted):
            raise BatchInterrupted(self.results, self.total) from error

    def _record(self, index: int, result: Result) -> Result:
        """Keep the result of job `index`."""
        self.results[index] = result
        self.done += 1
        self.failed += not result.ok
        if self._progress is not None:
            self._progress(Progress(self.done, self.total, self.failed))
        return result

    def _results(self) -> Iterator[Result]:
        # Completions come through a queue, not `concurrent.futures.wait`: Ctrl-C inside that
        # can leave a future's lock taken, and the worker finishing it then hangs.
        finished: SimpleQueue[int] = SimpleQueue()
        for index, future in enumerate(self._futures):
            future.add_done_callback(partial(_put, finished, index))
        next_index = 0
        try:
            for _ in self._futures:
                index = _next_of(finished)
                # What the worker raised (a job that cannot run) is raised here.
                result = self._record(index, self._futures[index].result())
                if not self._ordered:
                    yield result
                while self._ordered and next_index in self.results:
                    yield self.results[next_index]
                    next_index += 1
        except KeyboardInterrupt as interrupt:
            self.close()
            raise BatchInterrupted(self.results, self.total) from interrupt
        finally:
            self.close()

    def _begin_close(self) -> list[Future[Result]] | None:
        """Stop: keep queued jobs from starting and interrupt running ones. The futures of
        the jobs still running, for `_end_close` once they are done (None if closed before)."""
        if self._closed:
            return None
        self._closed = True
        if not all(future.done() for future in self._futures):
            # Before cancelling: some executors (Dask's) let a running job's future be
            # cancelled, and the guest would run on, out of sight.
            self._stop.stop()
        for future in self._futures:
            future.cancel()
        return [future for future in self._futures if not future.done()]

    def _end_close(self, running: Iterable[Future[Result]]) -> None:
        """Keep the results of the `running` jobs whose guests ended on their own, close the
        stop lines, and shut down the executor if the batch made it."""
        try:
            index_of = {future: index for index, future in enumerate(self._futures)}
            for future in running:
                if not future.done() or future.cancelled() or future.exception() is not None:
                    continue  # not started, stopped before it began, or failed while stopping
                result = future.result()
                if result.trap is None or result.trap.kind != GuestInterrupted.__name__:
                    self._record(index_of[future], result)
        finally:
            self._stop.close()
            if self._owned:
                self._executor.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        """Stop the batch (see the class); returns when its guests have ended."""
        running = self._begin_close()
        if running is None:
            return
        try:
            for future in running:  # interrupted guests end promptly; a second Ctrl-C ends this
                _settle(future)
        finally:
            self._end_close(running)


# How often a caller waiting for results looks at its signals. A SIGINT may reach any thread
# (a worker's, a timer's): the main thread, blocked on a lock, then runs Python's handler only
# when it next wakes up.
_SIGNAL_CHECK_SECONDS: Final = 0.05


def _put(queue: SimpleQueue[int], index: int, _: object) -> None:
    queue.put(index)


def _next_of(queue: SimpleQueue[int]) -> int:
    while True:
        with contextlib.suppress(Empty):
            return queue.get(timeout=_SIGNAL_CHECK_SECONDS)


def _settle(future: Future[Result]) -> None:
    """Wait for `future` to be done, however it ends."""
    while True:
        with contextlib.suppress(FutureTimeout):
            with contextlib.suppress(CancelledError):
                future.exception(timeout=_SIGNAL_CHECK_SECONDS)
            return


def run_batch(jobs: Iterable[Job], executor: Executor | None = None, *, ordered: bool = True,
              progress: Callable[[Progress], object] | None = None,
              stop_host: str = "127.0.0.1") -> Batch:
    """Run `jobs` over `executor` (by default a thread pool of one thread per CPU: guest code
    runs without the GIL) and iterate over their `Result`s (see `Batch`). Every job is
    checked, and checked to be picklable, before any is submitted. `progress` is called with
    a `Progress` as each job finishes. Workers in other processes reach this one at
    `stop_host` to be told to stop; give an address they can reach when they run on other
    machines."""
    return Batch(jobs, executor, ordered=ordered, progress=progress, stop_host=stop_host)
