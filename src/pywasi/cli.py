"""`pywasi run`: run a WASI module from the command line, in the conventions of `wasmtime run`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import wasmtime

from .engine.wasmtime_engine import instantiate, load_module
from .errors import GuestTrap, PyWasiError
from .sandbox.readonly import ReadOnly
from .syscalls.proc import host_exit_status
from .wasi import WASI

if TYPE_CHECKING:  # imported where used: a plain run needs neither
    import socket

TRAP_EXIT_STATUS = 134  # what `wasmtime run` exits with on a trap (128 + SIGABRT)
# Control characters, and the invisible ones that reorder or hide text, as Unicode classes them.
_UNPRINTABLE_CATEGORIES = frozenset({"Cc", "Cf"})
_KEPT_CONTROLS = frozenset("\n\t")


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


class _Formatter(argparse.HelpFormatter):
    """argparse's help formatter, sized from the terminal without `shutil`: argparse makes one
    for every option it adds, and shutil's import (with zlib, bz2 and lzma) is 2 ms of a run."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        if width is None:
            try:
                width = int(os.environ.get("COLUMNS", "")) - 2
            except ValueError:
                try:
                    width = os.get_terminal_size(1).columns - 2
                except OSError:
                    width = 78
        super().__init__(prog, indent_increment, max_help_position, width)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pywasi", description="Run WASI programs on wasmtime.",
                                     formatter_class=_Formatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run", formatter_class=_Formatter,
        help="run a WASI module (.wasm or .wat); with no module, a built-in demo",
        description="Run MODULE as a WASI command. Everything after MODULE goes to the guest.",
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
    run.add_argument("module", nargs="?", metavar="MODULE")
    run.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS")
    return parser


def _guest_version(module: wasmtime.Module) -> str:
    if any(item.module == "wasi_unstable" for item in module.imports):
        return "unstable"
    return "preview1"


def run(options: argparse.Namespace) -> int:
    if options.module is None:
        from importlib.resources import files

        source: str | bytes = files("pywasi").joinpath("demo.wat").read_bytes()
        name = "demo.wat"
    else:
        source = name = options.module
    module = load_module(Path(source) if isinstance(source, str) else source,
                         cache=not options.no_cache)
    listeners: list[socket.socket] = []
    try:
        listeners += (_listen(host, port) for host, port in options.tcplisten)
        wasi = WASI(
            version=options.wasi_version or _guest_version(module),
            args=[options.argv0 or name, *options.args],
            env={key: value for key, value in options.env if value is not None},
            preopens={guest: ReadOnly(host) if read_only else host
                      for host, guest, read_only in options.dirs},
            sockets=listeners or None,
        )
    finally:
        for listener in listeners:  # the guest has its own copies
            listener.close()
    return wasi.start(instantiate(wasi, module))


def _failed(options: argparse.Namespace, cause: object) -> None:
    _report(f"Error: failed to run main module `{options.module or 'demo.wat'}`\n\n"
            f"Caused by:\n    {cause}")


def main(argv: Sequence[str] | None = None) -> int:
    """The guest's exit code becomes the status; one the host cannot report (above 255) is
    an error, status 1, never the low 8 bits (which would make 256 a success)."""
    options = _parser().parse_args(argv)
    try:
        exit_code = run(options)
    except GuestTrap as trap:
        _failed(options, trap)
        return TRAP_EXIT_STATUS
    except PyWasiError as error:
        _report(f"Error: {error}")
        return 1
    status = host_exit_status(exit_code)
    if status != exit_code:
        _failed(options, f"exit status {exit_code} does not fit a host exit status (0..255)")
    return status


if __name__ == "__main__":
    sys.exit(main())
