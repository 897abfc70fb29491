"""What a `pywasi` command line says: the option table, its parser and its help text.

Logic only, no I/O: `parse` turns words into `RunOptions` (or a request for help or the
version) and raises `UsageError` for words that mean nothing; `cli.py` does the printing and
running. The parser is pywasi's own, not argparse: building an argparse parser for these
options cost a plain run ~8 ms (a third of what pywasi adds to ``import wasmtime``), and the
conventions are `wasmtime run`'s, which argparse only approximates: the first word that is no
option is the module and every word after it goes to the guest unread; ``--opt=VALUE`` and
``--opt VALUE`` are alike, ``-W fuel=N`` and ``-Wfuel=N`` too; a bare ``--trace`` never takes
the next word as its file (``--trace=FILE`` names one).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, Final

from .limits import parse_duration, parse_size

TRAP_EXIT_STATUS: Final = 134  # what `wasmtime run` exits with on a trap (128 + SIGABRT)
INTERRUPTED_EXIT_STATUS: Final = 130  # 128 + SIGINT, as shells and `wasmtime run` report Ctrl-C
USAGE_EXIT_STATUS: Final = 2  # a command line that means nothing, as argparse and clap say

EXIT_STATUSES: Final = f"""\
exit status:
  the guest's own exit code, when it exits or returns from _start (0)
  {TRAP_EXIT_STATUS}  the guest trapped (unreachable, out-of-bounds access...), as wasmtime
  {INTERRUPTED_EXIT_STATUS}  interrupted by Ctrl-C (SIGINT)
  143  ended by SIGTERM (killed by the signal, as a shell reports it; -15 to Python)
  124  -W timeout reached            125  -W fuel used up
  123  wasm stack exhausted (-W max-wasm-stack)
  122  -W max-memory-size, max-table-elements or -S max-random-size exceeded
  {USAGE_EXIT_STATUS}    the command line means nothing (an unknown option, a missing value)
  1    pywasi could not run the module (unreadable, invalid, bad options), or the guest's
       exit code does not fit a host exit status (0..255)
"""


class UsageError(Exception):
    """Words that mean nothing to `prog`; the message says which and why."""

    def __init__(self, prog: str, message: str) -> None:
        super().__init__(message)
        self.prog = prog


def _dir_mapping(text: str, read_only: bool = False) -> tuple[str, str, bool]:
    host, sep, guest = text.partition("::")
    return host, guest if sep else host, read_only


def _read_only_dir_mapping(text: str) -> tuple[str, str, bool]:
    return _dir_mapping(text, read_only=True)


def _env_pair(text: str) -> tuple[str, str | None]:
    name, sep, value = text.partition("=")
    if not name:
        raise ValueError(f"bad --env {text!r}: expected NAME=VALUE or NAME")
    return name, value if sep else os.environ.get(name)


def _tcp_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"bad --tcplisten {text!r}: expected HOST:PORT")
    return host.removeprefix("[").removesuffix("]"), int(port)


def _count(text: str) -> int:
    if not text.replace("_", "").isdigit() or text.startswith("_"):
        raise ValueError(f"bad count {text!r}: expected a whole number >= 0, such as 1000000 "
                         "or 1_000_000")
    return int(text.replace("_", ""))


def _flag(text: str) -> bool:
    lowered = text.lower()
    if lowered not in ("y", "yes", "true", "n", "no", "false"):
        raise ValueError(f"bad flag {text!r}: expected y or n (also yes, no, true, false)")
    return lowered in ("y", "yes", "true")


def _one_of(*choices: str) -> Callable[[str], str]:
    def read(text: str) -> str:
        if text not in choices:
            raise ValueError(f"invalid choice {text!r} (choose from {', '.join(choices)})")
        return text

    return read


# name -> (what it sets, how to read the value, help)
Settings = dict[str, tuple[str, Callable[[str], Any], str]]
W_OPTIONS: Final[Settings] = {
    "fuel": ("fuel", _count, "units of fuel the guest may use (~1 per instruction)"),
    "timeout": ("timeout", parse_duration, "wall-clock limit, such as 10s or 500ms"),
    "max-memory-size": ("max_memory_size", parse_size, "bytes each linear memory may grow to, "
                        "such as 65536 or 64MiB"),
    "max-table-elements": ("max_table_elements", _count, "elements each table may grow to "
                           "(default 10000000)"),
    "max-wasm-stack": ("max_wasm_stack", parse_size, "bytes of stack wasm code may use, such "
                       "as 512KiB"),
    "epoch-interruption": ("interruptible", _flag, "compile checks that let Ctrl-C end compute "
                           "from within (on with a timeout; else off, as in wasmtime: "
                           "Ctrl-C then ends the process)"),
}
S_OPTIONS: Final[Settings] = {
    "max-resources": ("max_resources", _count, "descriptors the guest may hold open (EMFILE)"),
    "max-random-size": ("max_random_size", parse_size, "bytes one random_get may ask for, "
                        "such as 1MiB"),
    "inherit-env": ("inherit_env", _flag, "give the guest the host's whole environment"),
    "deterministic": ("deterministic", _flag, "virtual clocks, sorted listings, stable inodes "
                      "(random_get is ENOTSUP unless deterministic-random-seed is given)"),
    "deterministic-random-seed": ("random_seed", _count, "seed of a deterministic random_get"),
    "record": ("record", str, "write every system call and its answer to this file "
               "(pywasi replay, trace and diff read it)"),
    "record-format": ("record_format", _one_of("json", "binary"), "json lines (default) or "
                      "binary frames, smaller and faster for large runs"),
}
# -S settings that are no `Limits` field: reproducible runs (`pywasi.reproducible`).
REPRODUCIBLE_SETTINGS: Final = ("deterministic", "random_seed", "record",
                                "record_format")


def _settings(table: Settings, option: str) -> Callable[[str], dict[str, Any]]:
    """A reader of KEY[=VALUE][,KEY[=VALUE]...]: what each key sets, by `Limits` field name
    (or ``inherit_env``)."""

    def read(text: str) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for item in text.split(","):
            key, sep, value = item.strip().partition("=")
            if key not in table:
                raise ValueError(f"unknown {option} option {key!r}; known: {', '.join(table)}")
            target, convert, _ = table[key]
            if not sep and convert is not _flag:
                raise ValueError(f"{option} {key} needs a value: {option} {key}=VALUE")
            try:
                values[target] = convert(value) if sep else True
            except ValueError as error:
                raise ValueError(f"{option} {key}={value}: {error}") from None
        return values

    return read


def _settings_help(table: Settings) -> str:
    return "; ".join(f"{name}: {help_}" for name, (_, _, help_) in table.items())


class Option:
    """One option: its spellings, where its value goes and how it is read. `takes` says what
    follows it: "value" (``--opt V`` or ``--opt=V``), "nothing" (a flag) or "=value" (only
    ``--opt=V``; the option alone means `bare`)."""

    __slots__ = ("bare", "dest", "help", "metavar", "names", "read", "repeat", "takes")

    def __init__(self, names: tuple[str, ...], dest: str, help: str, *,  # noqa: A002
                 metavar: str = "", read: Callable[[str], Any] = str, repeat: bool = False,
                 takes: str = "value", bare: str = "") -> None:
        self.names, self.dest, self.help, self.metavar = names, dest, help, metavar
        self.read, self.repeat, self.takes, self.bare = read, repeat, takes, bare


RUN_OPTIONS: Final = (
    Option(("-h", "--help"), "help", "show this help and exit", takes="nothing"),
    Option(("--dir",), "dirs", "give the guest the host directory HOST, seen at GUEST "
           "(default HOST)", metavar="HOST[::GUEST]", read=_dir_mapping, repeat=True),
    # A separate option, not a suffix: any suffix (":ro") could also end a real path.
    Option(("--dir-ro",), "dirs", "as --dir, but the guest can only read it: every change is "
           "refused", metavar="HOST[::GUEST]", read=_read_only_dir_mapping, repeat=True),
    Option(("--env",), "env", "set NAME in the guest's environment; NAME alone copies the "
           "host's", metavar="NAME[=VALUE]", read=_env_pair, repeat=True),
    Option(("--tcplisten",), "tcplisten", "give the guest a TCP socket listening on HOST:PORT, "
           "as the fd after the preopened directories (repeatable)", metavar="HOST:PORT",
           read=_tcp_address, repeat=True),
    Option(("--argv0",), "argv0", "argv[0] for the guest (default: MODULE)", metavar="NAME"),
    Option(("--wasi-version",), "wasi_version", "WASI ABI to provide (default: what the "
           "module imports)", metavar="{preview1,unstable}",
           read=_one_of("preview1", "unstable")),
    Option(("--no-cache",), "no_cache", "do not use the compiled-module cache (or set "
           "PYWASI_CACHE=0)", takes="nothing"),
    Option(("--invoke",), "invoke", "call the export NAME with ARGS as its (numeric) "
           "parameters and print what it returns, instead of running _start; a reactor's "
           "_initialize runs first", metavar="NAME"),
    Option(("-W",), "settings", "wasm limits, comma-separated or repeated: "
           + _settings_help(W_OPTIONS), metavar="OPT[=VAL]", read=_settings(W_OPTIONS, "-W"),
           repeat=True),
    Option(("-S",), "settings", "WASI options, comma-separated or repeated: "
           + _settings_help(S_OPTIONS), metavar="OPT[=VAL]", read=_settings(S_OPTIONS, "-S"),
           repeat=True),
    Option(("--trace",), "trace", "log every system call the guest makes, strace-style, to "
           "stderr; --trace=FILE writes to FILE instead", metavar="[=FILE]", takes="=value",
           bare="-"),
    Option(("--trace-format",), "trace_format", "one line of text per call (default), or "
           "JSON lines for tools; without --trace, it traces to stderr",
           metavar="{text,json}", read=_one_of("text", "json")),
)
TOP_OPTIONS: Final = (
    Option(("-h", "--help"), "help", "show this help and exit", takes="nothing"),
    Option(("-V", "--version"), "version", "print the versions of pywasi, wasmtime-py and "
           "Python", takes="nothing"),
)
POSITIONALS: Final = (
    ("MODULE", "the .wasm or .wat file to run (default: a built-in hello-world demo)"),
    ("ARGS", "arguments for the guest (argv[1:]), or for --invoke's export"),
)
RUN_DESCRIPTION: Final = ("Run MODULE as a WASI command (or call one export with --invoke). "
                          "Everything after MODULE goes to the guest.")
TOP_DESCRIPTION: Final = ("Run WASI programs on wasmtime. `pywasi MODULE ARGS...` is short for "
                          "`pywasi run ...`.")
TOP_COMMANDS: Final = (("run", "run a WASI module (.wasm or .wat); with no module, a built-in "
                                "demo (see `pywasi run --help`)"),
                        ("replay", "replay LOG MODULE: run again, every call answered from LOG"),
                        ("trace", "trace LOG: the --trace text of a recording (-S record=LOG)"),
                        ("diff", "diff LOG_A LOG_B: the first call where two recordings differ"))


class RunOptions:
    """What the command line asks of a run; the defaults are a plain run of the demo."""

    def __init__(self) -> None:
        self.help = False
        self.dirs: list[tuple[str, str, bool]] = []  # host, guest, read-only
        self.env: list[tuple[str, str | None]] = []
        self.tcplisten: list[tuple[str, int]] = []
        self.argv0: str | None = None
        self.wasi_version: str | None = None
        self.no_cache = False
        self.invoke: str | None = None
        self.settings: list[dict[str, Any]] = []  # what each -W and -S said, in order
        self.trace: str | None = None  # "-" for stderr
        self.trace_format: str | None = None  # text, unless --trace-format says json
        self.module: str | None = None
        self.args: list[str] = []

    @property
    def limits(self) -> dict[str, Any]:
        """The `Limits` fields -W and -S set (the last word wins). The guest is compiled
        without epoch checks unless a timeout needs them or they are asked for, as
        `wasmtime run` does: they cost call-heavy programs up to half their speed."""
        merged = {key: value for said in self.settings for key, value in said.items()}
        merged.pop("inherit_env", None)
        for key in REPRODUCIBLE_SETTINGS:
            merged.pop(key, None)
        merged.setdefault("interruptible", "timeout" in merged)
        return merged

    @property
    def reproducible(self) -> dict[str, Any]:
        """The -S settings of a reproducible run, by name (the last word wins)."""
        return {key: value for said in self.settings for key, value in said.items()
                if key in REPRODUCIBLE_SETTINGS}

    @property
    def inherit_env(self) -> bool:
        return bool(next((said["inherit_env"] for said in reversed(self.settings)
                          if "inherit_env" in said), False))


_BY_NAME: Final = {name: option for option in RUN_OPTIONS for name in option.names}
_TOP_BY_NAME: Final = {name: option for option in TOP_OPTIONS for name in option.names}


def _split(word: str) -> tuple[str, str | None]:
    """An option word as (name, attached value or None): ``--dir=x``, ``-Wfuel=1``."""
    if word.startswith("--"):
        name, sep, value = word.partition("=")
        return name, value if sep else None
    return word[:2], word[2:].removeprefix("=") or None


def _read_options(argv: Sequence[str], prog: str, by_name: dict[str, Option],
                  target: object) -> int:
    """Set the options at the start of `argv` on `target`; the index of the first word that
    is no option (len(argv) if none is)."""
    index = 0
    while index < len(argv):
        word = argv[index]
        if word == "--":
            return index + 1
        if not word.startswith("-") or word == "-":
            return index
        index += 1
        name, attached = _split(word)
        option = by_name.get(name)
        if option is None:
            raise UsageError(prog, f"unrecognized option {word!r}")
        if option.takes == "nothing":
            if attached is not None:
                raise UsageError(prog, f"{name} takes no value")
            setattr(target, option.dest, True)
            continue
        if attached is None and option.takes == "=value":
            text = option.bare
        elif attached is None:
            if index == len(argv):
                raise UsageError(prog, f"{name} needs a value: {name} {option.metavar}")
            text, index = argv[index], index + 1
        else:
            text = attached
        try:
            value = option.read(text)
        except ValueError as error:
            said = str(error)  # "argument -W: " only where the message does not name it
            raise UsageError(prog, said if said.startswith(name + " ")
                             else f"argument {name}: {said}") from None
        if option.repeat:
            getattr(target, option.dest).append(value)
        else:
            setattr(target, option.dest, value)
    return index


class TopLevel:
    """``pywasi -h`` or ``pywasi -V``: what to print instead of running."""

    def __init__(self) -> None:
        self.help = False
        self.version = False


def parse_run(argv: Sequence[str], prog: str = "pywasi run") -> RunOptions:
    """The options of ``pywasi run ARGV``; MODULE and its ARGS are the words after them."""
    options = RunOptions()
    first = _read_options(argv, prog, _BY_NAME, options)
    if options.trace_format is not None and options.trace is None:
        options.trace = "-"  # asking for a format asks for a trace
    if first < len(argv):
        options.module, options.args = argv[first], list(argv[first + 1:])
    return options


def parse(argv: Sequence[str]) -> RunOptions | TopLevel:
    """``pywasi run ...``, ``pywasi MODULE ...`` (as ``wasmtime MODULE ...``), or the top
    level's own options; ``pywasi`` alone asks for the top level's help."""
    if argv and argv[0] == "run":
        return parse_run(argv[1:])
    if not argv or argv[0] in _TOP_BY_NAME:
        top = TopLevel()
        _read_options(argv[:1], "pywasi", _TOP_BY_NAME, top)
        top.help = top.help or not top.version
        return top
    return parse_run(argv, "pywasi")


def usage(prog: str) -> str:
    """The usage line of a run (``pywasi run`` or its short form ``pywasi``)."""
    return f"usage: {prog} [OPTIONS] [MODULE] [ARGS ...]\n"


def _paragraph(text: str, width: int) -> str:
    import textwrap  # only for help

    return textwrap.fill(text, width) + "\n"


def _rows(rows: Sequence[tuple[str, str]], width: int) -> str:
    """argparse's layout: names in a column, help wrapped beside them (or below long ones)."""
    import textwrap

    column = 24
    lines = []
    for names, text in rows:
        wrapped = textwrap.wrap(text, max(width - column, 20))
        lead = "  " + names
        if len(lead) + 2 <= column:
            lines.append(lead.ljust(column) + (wrapped[0] if wrapped else ""))
            wrapped = wrapped[1:]
        else:
            lines.append(lead)
        lines += (" " * column + line for line in wrapped)
    return "\n".join(lines) + "\n"


def _names(option: Option) -> str:
    spelled = ", ".join(option.names)
    if option.takes == "=value":
        return spelled + option.metavar
    return f"{spelled} {option.metavar}" if option.metavar else spelled


def help_text(prog: str, width: int) -> str:
    """``pywasi run --help``: the usage, what each option and argument means, the exit
    statuses."""
    return (usage(prog) + "\n" + _paragraph(RUN_DESCRIPTION, width) + "\narguments:\n"
            + _rows(POSITIONALS, width) + "\noptions:\n"
            + _rows([(_names(option), option.help) for option in RUN_OPTIONS], width)
            + "\n" + EXIT_STATUSES)


def top_help_text(width: int) -> str:
    """``pywasi --help``."""
    return ("usage: pywasi [-h] [-V] COMMAND ...\n"
            "       pywasi [OPTIONS] MODULE [ARGS ...]   (short for `pywasi run ...`)\n\n"
            + _paragraph(TOP_DESCRIPTION, width) + "\ncommands:\n" + _rows(TOP_COMMANDS, width)
            + "\noptions:\n"
            + _rows([(_names(option), option.help) for option in TOP_OPTIONS], width))
