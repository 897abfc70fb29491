"""`pywasi run`: run a WASI module from the command line, in the conventions of `wasmtime run`.

``pywasi MODULE ARGS...`` is short for ``pywasi run MODULE ARGS...``; options spelled as
wasmtime spells them (``-W fuel=N``, ``-S inherit-env``, ``--invoke``) mean what they mean there.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TextIO

import wasmtime

import pywasi

from .cli_options import (
    INTERRUPTED_EXIT_STATUS,
    TRAP_EXIT_STATUS,
    USAGE_EXIT_STATUS,
    RunOptions,
    TopLevel,
    UsageError,
    help_text,
    parse,
    top_help_text,
    usage,
)
from .cli_stdio import StandardDescriptors
from .engine import host_calls
from .engine.host_imports import wasi_version
from .engine.interrupt import signal_watcher, timer
from .engine.wasmtime_engine import WasmtimeInstance, instantiate, load_module
from .errors import GuestTrap, LimitExceeded, PyWasiError
from .limits import Limits
from .printable import printable
from .syscalls.proc import host_exit_status
from .wasi import WASI

if TYPE_CHECKING:  # imported where used: a plain run needs none of them
    import socket

    from .trace import TraceSink

_COMPILE_NOTE_AFTER: Final = 1.0  # seconds of compiling before saying so on a terminal


def _printable(text: str) -> str:
    """`text` safe for a terminal (see `printable`), its newlines and tabs kept: nothing a
    guest chose (a function name in a trap's backtrace, say) can restyle the terminal."""
    return printable(text, keep="\n\t")


def _report(message: str) -> None:
    """Print an error on the guest's behalf, escaped (see `_printable`); nowhere when the
    host's stderr is closed (Python's is then None, and print would pick stdout)."""
    if sys.stderr is not None:
        print(_printable(message), file=sys.stderr)


def _output(text: str) -> None:
    """Write to the host's stdout, unless it is closed (None)."""
    if sys.stdout is not None:
        sys.stdout.write(text)


def _listen(host: str, port: int) -> socket.socket:
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as error:
        raise PyWasiError(f"cannot listen on {host}:{port}: {error.strerror}") from None


def version_text() -> str:
    trampoline = "C trampoline" if host_calls.trampoline is not None else \
        "pure-Python host calls (no C trampoline)"
    import platform
    from importlib.metadata import version  # only here: its import costs a plain run ~7 ms

    return (f"pywasi {pywasi.__version__} (wasmtime-py {version('wasmtime')}, "
            f"{platform.python_implementation()} {platform.python_version()}, {trampoline})")


@contextmanager
def _compile_note(name: str, stream: TextIO | None) -> Iterator[None]:
    """On a terminal, say so when compiling takes longer than a second (the first run of a
    large module); say nothing otherwise."""
    if stream is None or not stream.isatty():
        yield
        return
    started = time.monotonic()
    shown = threading.Event()

    def show() -> None:
        stream.write(f"compiling {name} (first run; cached afterwards)...")
        stream.flush()
        shown.set()

    try:
        with timer(_COMPILE_NOTE_AFTER, show):
            yield
    finally:
        if shown.is_set():
            stream.write(f" {time.monotonic() - started:.1f} s\n")
            stream.flush()


def _invoke_args(instance: WasmtimeInstance, name: str, texts: Sequence[str]) -> list[Any]:
    func = instance.exports.get(name)
    if not isinstance(func, wasmtime.Func):
        raise PyWasiError(f"--invoke {name}: the module exports no function {name!r}")
    params = func.type(instance.store).params
    if len(params) != len(texts):
        raise PyWasiError(f"--invoke {name}: the function takes {len(params)} arguments, "
                          f"{len(texts)} given")
    values: list[Any] = []
    for param, text in zip(params, texts, strict=True):
        kind = str(param)
        try:
            values.append(float(text) if kind in ("f32", "f64") else int(text, 0))
        except ValueError:
            raise PyWasiError(f"--invoke {name}: {text!r} is not a {kind}") from None
    return values


def _environment(options: RunOptions) -> dict[str, str]:
    """--env NAME copies the host's value; a name the host does not have is said, not
    silently dropped."""
    env = dict(os.environ) if options.inherit_env else {}
    for key, value in options.env:
        if value is None:
            _report(f"warning: --env {key}: the host has no variable {key}, so the guest "
                    "gets none (give a value with --env NAME=VALUE)")
        else:
            env[key] = value
    return env


def _check_dirs(dirs: Sequence[tuple[str, str, bool]]) -> None:
    """`--dir a:/b` for `--dir a::/b`: a missing host path with a single colon in it is most
    likely the wrong separator (wasmtime's is ``::``), so the error says so."""
    for host, guest, read_only in dirs:
        if host == guest and ":" in host and not os.path.lexists(host):
            option = "--dir-ro" if read_only else "--dir"
            before, _, after = host.partition(":")
            raise PyWasiError(f"{option} {host}: the host directory {host!r} does not exist; "
                              f"to give it the guest under another name, separate the two "
                              f"with '::' (HOST::GUEST): {option} {before}::{after}")


def _preopens(dirs: Sequence[tuple[str, str, bool]]) -> dict[str, object]:
    _check_dirs(dirs)
    if not any(read_only for _, _, read_only in dirs):
        return {guest: host for host, guest, _ in dirs}
    from .sandbox.readonly import ReadOnly  # only for --dir-ro

    return {guest: ReadOnly(host) if read_only else host for host, guest, read_only in dirs}


def _tracer(stream: TextIO, trace_format: str) -> TraceSink:
    from .trace import trace_writer  # only for --trace

    return trace_writer(stream, trace_format)


def _exports_memory(module: wasmtime.Module) -> bool:
    return any(item.name == "memory" and isinstance(item.type, wasmtime.MemoryType)
               for item in module.exports)


def _no_memory(instance: WasmtimeInstance) -> wasmtime.Memory:
    """For a module that exports no memory (pure compute, as `wasmtime run` runs it): a
    memory of no bytes, so a system call that needs none (proc_exit, sched_yield) works and
    one that reads or writes guest memory is EFAULT."""
    return wasmtime.Memory(instance.store, wasmtime.MemoryType(wasmtime.Limits(0, 0)))


def _reproducible(options: RunOptions) -> dict[str, Any]:
    """WASI's options for -S deterministic, deterministic-random-seed and record."""
    said = options.reproducible
    if not said:
        return {}
    from .reproducible import Determinism  # only for reproducible runs

    chosen: dict[str, Any] = {"record": said.get("record"),
                              "record_format": said.get("record_format", "json")}
    if said.get("deterministic") or "random_seed" in said:
        chosen["deterministic"] = Determinism(random_seed=said.get("random_seed"))
    return chosen


def run(options: RunOptions, trace_stream: TextIO | None = None,
        stdio: StandardDescriptors | None = None) -> int:
    limits = Limits(**options.limits)
    if options.module is None:
        from importlib.resources import files

        source: str | bytes = files("pywasi").joinpath("demo.wat").read_bytes()
        name = "demo.wat"
    else:
        source = name = options.module
    with _compile_note(name, sys.stderr):
        module = load_module(Path(source) if isinstance(source, str) else source,
                             cache=not options.no_cache, limits=limits)
    listeners: list[socket.socket] = []
    try:
        listeners += (_listen(host, port) for host, port in options.tcplisten)
        wasi = WASI(
            version=options.wasi_version or wasi_version(module),
            args=[options.argv0 or name, *([] if options.invoke else options.args)],
            env=_environment(options),
            preopens=_preopens(options.dirs),
            sockets=listeners or None,
            limits=limits,
            stdin=0 if stdio is None else stdio.option(0),
            stdout=1 if stdio is None else stdio.option(1),
            stderr=2 if stdio is None else stdio.option(2),
            trace=None if trace_stream is None else _tracer(trace_stream,
                                                            options.trace_format or "text"),
            **_reproducible(options),
        )
    finally:
        for listener in listeners:  # the guest has its own copies
            listener.close()
    instance = instantiate(wasi, module)
    memory = None if _exports_memory(module) else _no_memory(instance)
    if options.invoke is None:
        return wasi.start(instance, memory)
    if instance.export_kind("_initialize") is not None:
        wasi.initialize(instance, memory)
    else:
        wasi.finalize_bindings(instance, memory)
    try:
        result = instance.call(options.invoke,
                               *_invoke_args(instance, options.invoke, options.args))
    finally:
        wasi.close()
    for value in result if isinstance(result, list) else [] if result is None else [result]:
        _output(f"{value}\n")
    return 0


@contextmanager
def _trace_stream(target: str | None) -> Iterator[TextIO | None]:
    if target is None:
        yield None
    elif target == "-":
        yield sys.stderr  # None, so no trace, when the host's stderr is closed
    else:
        try:
            stream = open(target, "w", encoding="utf-8", buffering=1)  # noqa: SIM115
        except OSError as error:
            raise PyWasiError(f"cannot write the trace to {target!r}: {error.strerror}") \
                from None
        with stream:
            yield stream


def _terminal_width() -> int:
    """For help text: $COLUMNS, else the terminal's width, else 80 (shutil's order, without
    importing shutil, which a run would pay for)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit():
        return int(columns)
    try:
        return os.get_terminal_size(sys.stdout.fileno()).columns
    except (AttributeError, OSError, ValueError):  # AttributeError: None, a closed stdout
        return 80


def _parse(argv: Sequence[str]) -> RunOptions | None:
    """The run options in `argv`; None when help or the version was asked for (and printed).
    A command line that means nothing is `UsageError`."""
    options = parse(argv)
    if isinstance(options, TopLevel):
        _output(version_text() + "\n" if options.version else top_help_text(_terminal_width()))
        return None
    if options.help:
        _output(help_text("pywasi run" if argv[0] == "run" else "pywasi", _terminal_width()))
        return None
    return options


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _failed(module_name: str, cause: object) -> None:
    _report(f"Error: failed to run main module `{module_name}`\n\nCaused by:\n    {cause}")


def _recording_command(command: str, argv: Sequence[str]) -> int:
    """``pywasi replay|trace|diff ...`` (`pywasi.reproducible.commands`)."""
    from .reproducible import commands

    try:
        return commands.main(command, argv)
    except GuestTrap as trap:
        _failed(argv[-1], trap)
        return TRAP_EXIT_STATUS
    except (PyWasiError, OSError) as error:
        _report(f"Error: {error}")
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    """The guest's exit code becomes the status; one the host cannot report (above 255) is
    an error, status 1, never the low 8 bits (which would make 256 a success). Everything
    printed on the guest's behalf is escaped (`_printable`)."""
    words = sys.argv[1:] if argv is None else list(argv)
    if words[:1] in (["replay"], ["trace"], ["diff"]):
        return _recording_command(words[0], words[1:])
    try:
        options = _parse(words)
    except UsageError as error:
        _report(f"{usage(error.prog)}{error.prog}: error: {error}")
        return USAGE_EXIT_STATUS
    if options is None:
        return 0
    module_name = options.module or "demo.wat"
    interrupted = f"pywasi: {module_name} interrupted (Ctrl-C)"
    leaving = threading.Lock()  # one such line, whichever thread says it

    def end_the_process() -> None:
        """Ctrl-C while a guest compiled without epoch checks computes: nothing can stop it
        from within, so the process ends here, on the signal watcher's thread, as `wasmtime
        run` ends."""
        if leaving.acquire(blocking=False):
            _report(interrupted)
            with contextlib.suppress(AttributeError, OSError, ValueError):  # None: closed
                sys.stderr.flush()
            os._exit(INTERRUPTED_EXIT_STATUS)

    if not options.limits["interruptible"]:
        signal_watcher.on_interrupt = end_the_process
    stdio = StandardDescriptors()
    try:
        with _trace_stream(options.trace) as trace:
            exit_code = run(options, trace, stdio)
    except KeyboardInterrupt:  # in Python code, or stopped from within
        leaving.acquire()  # or wait while the watcher ends the process
        _report(interrupted)
        return INTERRUPTED_EXIT_STATUS
    except LimitExceeded as limit:
        _report(f"Error: {module_name}: {_one_line(str(limit))}")
        return limit.exit_status
    except GuestTrap as trap:
        _failed(module_name, trap)
        return TRAP_EXIT_STATUS
    except PyWasiError as error:
        _report(f"Error: {error}")
        return 1
    finally:
        signal_watcher.on_interrupt = None
        stdio.release()
    status = host_exit_status(exit_code)
    if status != exit_code:
        _failed(module_name, f"exit status {exit_code} does not fit a host exit status (0..255)")
    return status
