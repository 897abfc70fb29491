"""`pywasi run`: run a WASI module from the command line, in the conventions of `wasmtime run`.

``pywasi MODULE ARGS...`` is short for ``pywasi run MODULE ARGS...``; options spelled as
wasmtime spells them (``-W fuel=N``, ``-S inherit-env``, ``--invoke``) mean what they mean there.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TextIO

import wasmtime

import pywasi

from .engine import wasmtime_engine
from .engine.host_imports import wasi_version
from .engine.interrupt import timer
from .engine.wasmtime_engine import WasmtimeInstance, instantiate, load_module
from .errors import GuestTrap, LimitExceeded, PyWasiError
from .limits import Limits, parse_duration
from .sandbox.readonly import ReadOnly
from .syscalls.proc import host_exit_status
from .trace import trace_writer
from .wasi import WASI

if TYPE_CHECKING:  # imported where used: a plain run needs neither
    import socket

TRAP_EXIT_STATUS: Final = 134  # what `wasmtime run` exits with on a trap (128 + SIGABRT)
INTERRUPTED_EXIT_STATUS: Final = 130  # 128 + SIGINT, as shells and `wasmtime run` report Ctrl-C
_COMPILE_NOTE_AFTER: Final = 1.0  # seconds of compiling before saying so on a terminal

EXIT_STATUSES: Final = f"""\
exit status:
  the guest's own exit code, when it exits or returns from _start (0)
  {TRAP_EXIT_STATUS}  the guest trapped (unreachable, out-of-bounds access...), as wasmtime
  {INTERRUPTED_EXIT_STATUS}  interrupted by Ctrl-C (SIGINT)
  124  -W timeout reached            125  -W fuel used up
  123  wasm stack exhausted (-W max-wasm-stack)
  122  -W max-memory-size or -S max-random-size exceeded
  1    pywasi could not run the module (unreadable, invalid, bad options), or the guest's
       exit code does not fit a host exit status (0..255)
"""
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


def _dir_mapping(text: str, read_only: bool = False) -> tuple[str, str, bool]:
    host, sep, guest = text.partition("::")
    return host, guest if sep else host, read_only


def _read_only_dir_mapping(text: str) -> tuple[str, str, bool]:
    return _dir_mapping(text, read_only=True)


def _env_pair(text: str) -> tuple[str, str | None]:
    name, sep, value = text.partition("=")
    if not name:
        raise argparse.ArgumentTypeError(f"bad --env {text!r}: expected NAME=VALUE or NAME")
    return name, value if sep else os.environ.get(name)


def _tcp_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"bad --tcplisten {text!r}: expected HOST:PORT")
    return host.removeprefix("[").removesuffix("]"), int(port)


def _listen(host: str, port: int) -> socket.socket:
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as error:
        raise PyWasiError(f"cannot listen on {host}:{port}: {error.strerror}") from None


def _count(text: str) -> int:
    value = int(text.replace("_", ""))
    if value < 0:
        raise ValueError("must not be negative")
    return value


def _flag(text: str) -> bool:
    lowered = text.lower()
    if lowered not in ("y", "yes", "true", "n", "no", "false"):
        raise ValueError("expected y or n")
    return lowered in ("y", "yes", "true")


class _Settings:
    """What -W and -S set; `Limits` fields by their wasmtime names, plus `inherit-env`."""

    __slots__ = ("inherit_env", "limits")

    def __init__(self) -> None:
        self.limits: dict[str, Any] = {}
        self.inherit_env = False


# name -> (what it sets, how to read the value, help)
_W_OPTIONS: Final[dict[str, tuple[str, Callable[[str], Any], str]]] = {
    "fuel": ("fuel", _count, "units of fuel the guest may use (~1 per instruction)"),
    "timeout": ("timeout", parse_duration, "wall-clock limit, such as 10s or 500ms"),
    "max-memory-size": ("max_memory_size", _count, "bytes each linear memory may grow to"),
    "max-wasm-stack": ("max_wasm_stack", _count, "bytes of stack wasm code may use"),
}
_S_OPTIONS: Final[dict[str, tuple[str, Callable[[str], Any], str]]] = {
    "max-resources": ("max_resources", _count, "descriptors the guest may hold open (EMFILE)"),
    "max-random-size": ("max_random_size", _count, "bytes one random_get may ask for"),
    "inherit-env": ("inherit_env", _flag, "give the guest the host's whole environment"),
}


def _settings_action(table: dict[str, tuple[str, Callable[[str], Any], str]],
                     option: str) -> type[argparse.Action]:
    class Collect(argparse.Action):
        """Reads KEY[=VALUE][,KEY[=VALUE]...] into the shared `_Settings`."""

        def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                     values: Any, option_string: str | None = None) -> None:
            settings: _Settings = getattr(namespace, "settings", None) or _Settings()
            namespace.settings = settings
            for item in str(values).split(","):
                key, sep, text = item.strip().partition("=")
                if key not in table:
                    parser.error(f"unknown {option} option {key!r}; known: {', '.join(table)}")
                target, convert, _ = table[key]
                if not sep and convert is not _flag:
                    parser.error(f"{option} {key} needs a value: {option} {key}=VALUE")
                try:
                    value = convert(text) if sep else True
                except ValueError as error:
                    parser.error(f"bad {option} {key}={text}: {error}")
                if target == "inherit_env":
                    settings.inherit_env = value
                else:
                    settings.limits[target] = value

    return Collect


def _options_help(table: dict[str, tuple[str, Callable[[str], Any], str]]) -> str:
    return "; ".join(f"{name}: {help_}" for name, (_, _, help_) in table.items())


def _run_parser(prog: str = "pywasi run") -> argparse.ArgumentParser:
    run = argparse.ArgumentParser(
        prog=prog, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run MODULE as a WASI command (or call one export with --invoke). "
                    "Everything after MODULE goes to the guest.",
        epilog=EXIT_STATUSES,
    )
    run.add_argument("--dir", action="append", dest="dirs", default=[], type=_dir_mapping,
                     metavar="HOST[::GUEST]",
                     help="give the guest the host directory HOST, seen at GUEST (default HOST)")
    # A separate option, not a suffix: any suffix (":ro") could also end a real path.
    run.add_argument("--dir-ro", action="append", dest="dirs", type=_read_only_dir_mapping,
                     metavar="HOST[::GUEST]",
                     help="as --dir, but the guest can only read it: every change is refused")
    run.add_argument("--env", action="append", default=[], type=_env_pair,
                     metavar="NAME[=VALUE]",
                     help="set NAME in the guest's environment; NAME alone copies the host's")
    run.add_argument("--tcplisten", action="append", default=[], type=_tcp_address,
                     metavar="HOST:PORT",
                     help="give the guest a TCP socket listening on HOST:PORT, as the fd after "
                          "the preopened directories (repeatable)")
    run.add_argument("--argv0", metavar="NAME", help="argv[0] for the guest (default: MODULE)")
    run.add_argument("--wasi-version", choices=["preview1", "unstable"],
                     help="WASI ABI to provide (default: what the module imports)")
    run.add_argument("--no-cache", action="store_true",
                     help="do not use the compiled-module cache (or set PYWASI_CACHE=0)")
    run.add_argument("--invoke", metavar="NAME",
                     help="call the export NAME with ARGS as its (numeric) parameters and print "
                          "what it returns, instead of running _start; a reactor's "
                          "_initialize runs first")
    run.add_argument("-W", action=_settings_action(_W_OPTIONS, "-W"), metavar="OPT[=VAL]",
                     dest="wasm_options",
                     help="wasm limits, comma-separated or repeated: " + _options_help(_W_OPTIONS))
    run.add_argument("-S", action=_settings_action(_S_OPTIONS, "-S"), metavar="OPT[=VAL]",
                     dest="wasi_options",
                     help="WASI options, comma-separated or repeated: "
                          + _options_help(_S_OPTIONS))
    run.add_argument("--trace", nargs="?", const="-", metavar="FILE",
                     help="log every system call the guest makes, strace-style, to stderr; "
                          "--trace=FILE writes to FILE instead")
    run.add_argument("--trace-format", choices=["text", "json"], default="text",
                     help="one line of text per call (default), or JSON lines for tools")
    run.add_argument("module", nargs="?", metavar="MODULE",
                     help="the .wasm or .wat file to run (default: a built-in hello-world demo)")
    run.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS",
                     help="arguments for the guest (argv[1:]), or for --invoke's export")
    return run


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pywasi", description="Run WASI programs on wasmtime. "
                                   "`pywasi MODULE ARGS...` is short for `pywasi run ...`.")
    parser.add_argument("-V", "--version", action="store_true",
                        help="print the versions of pywasi, wasmtime-py and Python")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("run", help="run a WASI module (.wasm or .wat); with no module, a "
                                    "built-in demo (see `pywasi run --help`)", add_help=False)
    return parser


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


def _environment(options: argparse.Namespace, settings: _Settings) -> dict[str, str]:
    env = dict(os.environ) if settings.inherit_env else {}
    env.update((key, value) for key, value in options.env if value is not None)
    return env


def run(options: argparse.Namespace, trace_stream: TextIO | None = None) -> int:
    settings: _Settings = getattr(options, "settings", None) or _Settings()
    limits = Limits(**settings.limits) if settings.limits else None
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
            env=_environment(options, settings),
            preopens={guest: ReadOnly(host) if read_only else host
                      for host, guest, read_only in options.dirs},
            sockets=listeners or None,
            limits=limits,
            trace=None if trace_stream is None else trace_writer(trace_stream,
                                                                 options.trace_format),
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


def _bare_trace_to_stderr(parser: argparse.ArgumentParser, argv: Sequence[str]) -> list[str]:
    """`argv` with a bare ``--trace`` (before MODULE) spelled ``--trace=-``, so that the word
    after it is never taken for the trace file: ``--trace prog.wasm`` traces prog.wasm to
    stderr, and only ``--trace=FILE`` names a file."""
    takes_value = {option for action in parser._actions if action.nargs is None
                   and action.option_strings for option in action.option_strings}
    words = list(argv)
    skip = False
    for index, word in enumerate(words):
        if skip:
            skip = False
        elif word == "--trace":
            words[index] = "--trace=-"
        elif word in takes_value:
            skip = True
        elif not word.startswith("-") or word == "--":
            break
    return words


def _parse(argv: Sequence[str]) -> argparse.Namespace | None:
    """The run options in `argv`; None when the top-level help or version was printed."""
    if argv and argv[0] == "run":
        run = _run_parser()
        return run.parse_args(_bare_trace_to_stderr(run, argv[1:]))
    if not argv or argv[0] in ("-h", "--help", "-V", "--version"):
        top = _top_parser()
        options = top.parse_args(argv[:1])
        if options.version:
            print(version_text())
        else:
            top.print_help()
        return None
    run = _run_parser("pywasi")  # `pywasi MODULE ...`, as `wasmtime MODULE ...`
    return run.parse_args(_bare_trace_to_stderr(run, argv))


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _failed(module_name: str, cause: object) -> None:
    _report(f"Error: failed to run main module `{module_name}`\n\nCaused by:\n    {cause}")


def main(argv: Sequence[str] | None = None) -> int:
    """The guest's exit code becomes the status; one the host cannot report (above 255) is
    an error, status 1, never the low 8 bits (which would make 256 a success). Everything
    printed on the guest's behalf is escaped (`_printable`)."""
    options = _parse(sys.argv[1:] if argv is None else argv)
    if options is None:
        return 0
    module_name = options.module or "demo.wat"
    try:
        with _trace_stream(options.trace) as trace:
            exit_code = run(options, trace)
    except KeyboardInterrupt:
        _report(f"pywasi: {module_name} interrupted (Ctrl-C)")
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
    status = host_exit_status(exit_code)
    if status != exit_code:
        _failed(module_name, f"exit status {exit_code} does not fit a host exit status (0..255)")
    return status


def console() -> None:
    """The `pywasi` command. After Ctrl-C it leaves without tearing the interpreter down
    (tens of milliseconds with a large module loaded), so the shell gets its prompt back at
    once; what the guest wrote is flushed first."""
    status = main()
    if status == INTERRUPTED_EXIT_STATUS:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(status)
    sys.exit(status)


if __name__ == "__main__":
    console()
