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
from .engine import wasmtime_engine
from .engine.host_imports import wasi_version
from .engine.interrupt import signal_watcher, timer
from .engine.wasmtime_engine import WasmtimeInstance, instantiate, load_module
from .errors import GuestTrap, LimitExceeded, PyWasiError
from .limits import Limits
from .syscalls.proc import host_exit_status
from .wasi import WASI

if TYPE_CHECKING:  # imported where used: a plain run needs none of them
    import socket

    from .trace import TraceSink

_COMPILE_NOTE_AFTER: Final = 1.0  # seconds of compiling before saying so on a terminal
# Control characters, and the invisible ones that reorder or hide text, as Unicode classes them.
_UNPRINTABLE_CATEGORIES: Final = frozenset({"Cc", "Cf"})
_KEPT_CONTROLS: Final = frozenset("\n\t")


def _printable(text: str) -> str:
    """`text` safe for a terminal: control characters escaped (ESC as \\x1b, say), so
    nothing a guest chose (a function name in a trap's backtrace, say) can move the cursor,
    ring the bell or restyle the terminal. Newlines and tabs are kept."""
    from unicodedata import category  # only errors are printed

    return "".join(
        char.encode("unicode_escape").decode("ascii")
        if category(char) in _UNPRINTABLE_CATEGORIES and char not in _KEPT_CONTROLS
        else char
        for char in text
    )


def _report(message: str) -> None:
    """Print an error on the guest's behalf, escaped (see `_printable`)."""
    print(_printable(message), file=sys.stderr)


def _listen(host: str, port: int) -> socket.socket:
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as error:
        raise PyWasiError(f"cannot listen on {host}:{port}: {error.strerror}") from None


def version_text() -> str:
    trampoline = "C trampoline" if wasmtime_engine.trampoline is not None else \
        "pure-Python host calls (no C trampoline)"
    import platform
    from importlib.metadata import version  # only here: its import costs a plain run ~7 ms

    return (f"pywasi {pywasi.__version__} (wasmtime-py {version('wasmtime')}, "
            f"{platform.python_implementation()} {platform.python_version()}, {trampoline})")


@contextmanager
def _compile_note(name: str, stream: TextIO) -> Iterator[None]:
    """On a terminal, say so when compiling takes longer than a second (the first run of a
    large module); say nothing otherwise."""
    if not stream.isatty():
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
    env = dict(os.environ) if options.inherit_env else {}
    env.update((key, value) for key, value in options.env if value is not None)
    return env


def _preopens(dirs: Sequence[tuple[str, str, bool]]) -> dict[str, object]:
    if not any(read_only for _, _, read_only in dirs):
        return {guest: host for host, guest, _ in dirs}
    from .sandbox.readonly import ReadOnly  # only for --dir-ro

    return {guest: ReadOnly(host) if read_only else host for host, guest, read_only in dirs}


def _tracer(stream: TextIO, trace_format: str) -> TraceSink:
    from .trace import trace_writer  # only for --trace

    return trace_writer(stream, trace_format)


def _reproducible(options: RunOptions) -> dict[str, Any]:
    """WASI's options for -S deterministic, deterministic-random-seed and record."""
    said = options.reproducible
    if not said:
        return {}
    from .reproducible import Determinism  # only for reproducible runs

    chosen: dict[str, Any] = {"record": said.get("record")}
    if said.get("deterministic") or "random_seed" in said:
        chosen["deterministic"] = Determinism(random_seed=said.get("random_seed"))
    return chosen


def run(options: RunOptions, trace_stream: TextIO | None = None) -> int:
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
    if not any(item.name == "memory" and isinstance(item.type, wasmtime.MemoryType)
               for item in module.exports):
        raise PyWasiError(f"{name} exports no memory: a WASI command must export its linear "
                          "memory as `memory` (in .wat: (memory (export \"memory\") 1))")
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
            trace=None if trace_stream is None else _tracer(trace_stream, options.trace_format),
            **_reproducible(options),
        )
    finally:
        for listener in listeners:  # the guest has its own copies
            listener.close()
    instance = instantiate(wasi, module)
    if options.invoke is None:
        return wasi.start(instance)
    if instance.export_kind("_initialize") is not None:
        wasi.initialize(instance)
    else:
        wasi.finalize_bindings(instance)
    try:
        result = instance.call(options.invoke,
                               *_invoke_args(instance, options.invoke, options.args))
    finally:
        wasi.close()
    for value in result if isinstance(result, list) else [] if result is None else [result]:
        print(value)
    return 0


@contextmanager
def _trace_stream(target: str | None) -> Iterator[TextIO | None]:
    if target is None:
        yield None
    elif target == "-":
        yield sys.stderr
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
    except (OSError, ValueError):
        return 80


def _parse(argv: Sequence[str]) -> RunOptions | None:
    """The run options in `argv`; None when help or the version was asked for (and printed).
    A command line that means nothing is `UsageError`."""
    options = parse(argv)
    if isinstance(options, TopLevel):
        sys.stdout.write(version_text() + "\n" if options.version
                         else top_help_text(_terminal_width()))
        return None
    if options.help:
        sys.stdout.write(help_text("pywasi run" if argv[0] == "run" else "pywasi",
                                   _terminal_width()))
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
        sys.stderr.write(f"{usage(error.prog)}{error.prog}: error: {error}\n")
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
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()
            os._exit(INTERRUPTED_EXIT_STATUS)

    if not options.limits["interruptible"]:
        signal_watcher.on_interrupt = end_the_process
    try:
        with _trace_stream(options.trace) as trace:
            exit_code = run(options, trace)
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
    status = host_exit_status(exit_code)
    if status != exit_code:
        _failed(module_name, f"exit status {exit_code} does not fit a host exit status (0..255)")
    return status
