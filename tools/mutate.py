"""Checks that the test suite notices known ways of breaking pywasi: each mutation below once
survived with every quick test passing.

Each mutation is applied in turn to a scratch copy of the tree (never to the tree itself), with
the C trampoline rebuilt in the copy when the mutation is in C; then only the tests that should
kill it run, against the copy (``PYTHONPATH``). A mutation whose `old` text is no longer in its
file is reported loudly, never counted as killed: when the code changes, update the mutation.

Run from anywhere: ``.venv/bin/python tools/mutate.py [NAME...]``. Exit status 0 only if every
mutation chosen was killed (and the same tests pass on the unmutated copy).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TRAMPOLINE = "src/pywasi/engine/_trampoline.c"
SECONDS_PER_RUN = 300


@dataclass(frozen=True)
class Mutation:
    name: str
    file: str  # relative to the repository root
    old: str  # must occur exactly once in `file`
    new: str
    tests: tuple[str, ...]  # pytest arguments: the tests that must fail


def _on_path(test: str, path: str) -> str:
    """A test id of the parametrized `test` on host-call path `path` ("c" or "python")."""
    return f"{test}[{path}]"


MOVING = "tests/test_moving_memory.py::test_io_after_the_guest_grew_its_memory"
REFERENCES = "tests/test_host_call_references.py"
SEEK_RIGHTS = "tests/test_seek_rights.py"
PRECHECKS = "tests/test_prechecks.py"
CACHE = "tests/test_cache_is_used.py"
TRACE_FORGERY = "tests/test_control.py::test_a_guest_path_cannot_forge_or_restyle_a_trace_line"
SLASH = "tests/test_trailing_slash.py::test_trailing_slash_as_linux"
MEMTREE = "tests/test_memtree_trust.py"
STOPPING = "tests/test_stopping.py"
CACHE_POLICY = "tests/test_cache_policy.py::"
DEEP = "tests/test_memtree_deep.py"

MUTATIONS: tuple[Mutation, ...] = (
    Mutation(
        "relocation deleted, Python host calls", "src/pywasi/engine/host_calls.py",
        "for memory in movable:\n                    memory.relocate()",
        "for memory in movable:\n                    pass",
        (_on_path(MOVING, "python-moving"),),
    ),
    Mutation(
        "relocation deleted, C trampoline", TRAMPOLINE,
        "if (PyList_GET_SIZE(self->movable) && relocate_memories(self->movable) < 0) {",
        "if (0 && relocate_memories(self->movable) < 0) {",
        (_on_path(MOVING, "c-moving"),),
    ),
    Mutation(
        # The raw-path fuzzer's reason to be: i32s handed over signed reach guest memory.
        "Python host calls read i32s as signed", "src/pywasi/engine/host_calls.py",
        'padded = (code + ("12x"', 'padded = (code.lower() + ("12x"',
        (_on_path("tests/test_hostile_arguments.py::"
                  "test_any_raw_arguments_through_wasmtime_give_an_errno", "walk-python"),
         _on_path("tests/test_api.py::"
                  "test_signed_and_unsigned_arguments_arrive_as_the_abi_says", "python")),
    ),
    Mutation(
        "cache never read", "src/pywasi/engine/cache.py",
        "module = cache.read(engine, key)", "module = None",
        (f"{CACHE}::test_a_second_load_is_a_cache_hit",),
    ),
    Mutation(
        "cache checksum not checked", "src/pywasi/engine/cache.py",
        "if not compare_digest(header[_KEY_END:], mac):",
        "if False:",
        (_on_path(f"{CACHE}::test_a_flipped_byte_in_an_entry_is_recompiled_and_replaced", "c"),),
    ),
    Mutation(
        "cache entry not bound to its key", "src/pywasi/engine/cache.py",
        "if header[: len(_MAGIC)] != _MAGIC or stored_key != key:",
        "if header[: len(_MAGIC)] != _MAGIC:",
        (_on_path("tests/test_cache.py::test_entry_copied_over_another_modules_is_recompiled",
                  "walk-c"),),
    ),
    Mutation(
        "a cache entry's check vouched for by a marker of another state",
        "src/pywasi/engine/cache.py",
        "verified = _mac(self.secret, _VERIFIED_MAGIC, key, _state(st)).hex() \\",
        "verified = _mac(self.secret, _VERIFIED_MAGIC, key).hex() \\",
        ("tests/test_cache.py::test_an_entry_changed_after_its_check_is_checked_again",),
    ),
    Mutation(
        "cache index record not authenticated", "src/pywasi/engine/cache.py",
        "if len(record) != _INDEX_SIZE or not compare_digest(",
        "if len(record) != _INDEX_SIZE or compare_digest(b'', b'x') and compare_digest(",
        ("tests/test_cache.py::test_a_forged_index_record_is_ignored",),
    ),
    Mutation(
        "cache index record's MAC does not cover the file state it is named by",
        "src/pywasi/engine/cache.py",
        "                mac, _mac(self.secret, _INDEX_MAGIC, index, key)):\n"
        "            return None\n"
        "        return key\n"
        "\n"
        "    def record_index(self, index: bytes, key: bytes) -> None:\n"
        "        self._publish(index.hex() + _INDEX_SUFFIX, key,\n"
        "                      _mac(self.secret, _INDEX_MAGIC, index, key))",
        "                mac, _mac(self.secret, _INDEX_MAGIC, key)):\n"
        "            return None\n"
        "        return key\n"
        "\n"
        "    def record_index(self, index: bytes, key: bytes) -> None:\n"
        "        self._publish(index.hex() + _INDEX_SUFFIX, key,\n"
        "                      _mac(self.secret, _INDEX_MAGIC, key))",
        (_on_path("tests/test_cache.py::"
                  "test_a_genuine_index_record_copied_under_another_files_name_is_ignored",
                  "walk-c"),),
    ),
    Mutation(
        "cache: a module file changed too recently is indexed all the same",
        "src/pywasi/engine/cache.py",
        "            if _settled(st):\n                cache.record_index(index, key)",
        "            cache.record_index(index, key)",
        (_on_path("tests/test_cache.py::test_a_file_changed_too_recently_is_hashed_at_every_load",
                  "walk-c"),),
    ),
    Mutation(
        "cache: an indexed module file is read whole", "src/pywasi/engine/cache.py",
        'if file.read(4) != b"\\0asm":', 'if file.read()[:4] != b"\\0asm":',
        (_on_path("tests/test_cache.py::test_an_unchanged_module_file_is_neither_read_nor_hashed",
                  "walk-c"),),
    ),
    Mutation(
        "the kernel resolves paths beneath the cache", "src/pywasi/sandbox/guard.py",
        "return not above or (identity or _identity(os.fstat(fd))) not in above",
        "return True",
        ("tests/test_path_routes.py::test_beneath_a_protected_directory_every_lookup_walks",),
    ),
    Mutation(
        "open_beneath: a last name whose meaning the walk decides is left to the kernel",
        "src/pywasi/sandbox/resolver.py",
        '            or path[path.rfind(b"/") + 1 :] in _SPECIAL_LAST\n', "",
        (_on_path("tests/test_path_routes.py::"
                  "test_the_kernel_opens_nothing_whose_answer_is_the_walks",
                  "openat2-a/b/.-path"),),
    ),
    Mutation(
        "trampoline leaks the result", TRAMPOLINE,
        "int status = store_result(self, result, values);\n        Py_DECREF(result);",
        "int status = store_result(self, result, values);",
        (_on_path(f"{REFERENCES}::test_the_result_of_a_replaced_import_is_released", "c"),),
    ),
    Mutation(
        "trampoline leaks the arguments", TRAMPOLINE,
        "Py_DECREF(args[index]);", "(void)args[index];",
        (_on_path(f"{REFERENCES}::test_the_arguments_of_a_host_call_are_released", "c"),),
    ),
    Mutation(
        "fd_seek: any seek needs only FD_TELL", "src/pywasi/syscalls/fd.py",
        "needed = Rights.FD_TELL if offset == 0 and origin == Whence.CUR else Rights.FD_SEEK",
        "needed = Rights.FD_TELL",
        (SEEK_RIGHTS,),
    ),
    Mutation(
        "fd_seek: telling needs FD_SEEK", "src/pywasi/syscalls/fd.py",
        "needed = Rights.FD_TELL if offset == 0 and origin == Whence.CUR else Rights.FD_SEEK",
        "needed = Rights.FD_SEEK",
        (SEEK_RIGHTS,),
    ),
    Mutation(
        "fd_tell needs FD_SEEK", "src/pywasi/syscalls/fd.py",
        "ctx.fds.get(fd, Rights.FD_TELL).file.tell()",
        "ctx.fds.get(fd, Rights.FD_SEEK).file.tell()",
        (SEEK_RIGHTS,),
    ),
    Mutation(
        "args/environ: pointer range not checked first", "src/pywasi/syscalls/args_env.py",
        "    memory.view(pointers, 4 * len(strings))\n", "",
        (f"{PRECHECKS}::test_strings_are_written_whole_or_not_at_all",),
    ),
    Mutation(
        "args/environ: string range not checked first", "src/pywasi/syscalls/args_env.py",
        "    memory.view(buf, sum(len(s) + 1 for s in strings))\n", "",
        (f"{PRECHECKS}::test_strings_are_written_whole_or_not_at_all",),
    ),
    Mutation(
        "path_open: out-pointer not checked first", "src/pywasi/syscalls/path.py",
        "    ctx.memory.check(opened_fd_out, 4)\n", "",
        (f"{PRECHECKS}::test_path_open_with_a_bad_result_pointer_creates_nothing",),
    ),
    Mutation(
        "sock_accept: out-pointer not checked first", "src/pywasi/syscalls/sockets.py",
        "    ctx.memory.check(fd_out, 4)", "    pass",
        (f"{PRECHECKS}::test_sock_accept_with_a_bad_result_pointer_leaves_the_connection_waiting",),
    ),
    Mutation(
        "a binary Python stdout's buffer is never flushed", "src/pywasi/sandbox/pystreams.py",
        "        taken = write(data)\n        flush()", "        taken = write(data)",
        (_on_path("tests/test_stdio_objects.py::"
                  "test_binary_stream_over_a_buffer_holds_each_write_on_return", "c"),),
    ),
    Mutation(
        "stdio: seek rights everywhere", "src/pywasi/sandbox/stdio.py",
        "(SEEK if self.seekable() else 0)", "SEEK",
        (f"{SEEK_RIGHTS}::test_stdio_on_a_regular_file_may_seek_and_on_a_pipe_may_not",),
    ),
    Mutation(
        "stdio: seek rights nowhere", "src/pywasi/sandbox/stdio.py",
        "(SEEK if self.seekable() else 0)", "0",
        (f"{SEEK_RIGHTS}::test_stdio_on_a_regular_file_may_seek_and_on_a_pipe_may_not",),
    ),
    Mutation(
        # Not one that survived, but the one the race test exists for: looking first and
        # opening (following links) after lets a rename in between lead outside.
        "resolver: check for a link, then open following one", "src/pywasi/sandbox/resolver.py",
        "            entered = os.open(name, _SEARCH_FLAGS, dir_fd=parent)",
        "            if read_link(parent, name) is None:\n"
        "                entered = os.open(name, _SEARCH_FLAGS & ~os.O_NOFOLLOW, dir_fd=parent)\n"
        "            else:\n"
        "                entered = os.open(name, _SEARCH_FLAGS, dir_fd=parent)",
        ("tests/test_sandbox.py::test_host_side_races_cannot_make_a_path_escape",),
    ),
    Mutation(
        "trace text: guest strings quoted unescaped", "src/pywasi/trace.py",
        "return printable(json.dumps(value, ensure_ascii=False))", "return f'\"{value}\"'",
        (_on_path(TRACE_FORGERY, "c"),),
    ),
    Mutation(
        "trace text: controls JSON leaves alone shown as they are", "src/pywasi/trace.py",
        "return printable(json.dumps(value, ensure_ascii=False))",
        "return json.dumps(value, ensure_ascii=False)",
        (_on_path(TRACE_FORGERY, "c"),),
    ),
    Mutation(
        "trace JSON: non-ASCII written as it is", "src/pywasi/trace.py",
        '"raised": self.raised,\n        })',
        '"raised": self.raised,\n        }, ensure_ascii=False)',
        (_on_path(TRACE_FORGERY, "c"),),
    ),
    Mutation(
        # The race test goes through HostDir.open_at itself: its route choice is tested too.
        "open_at: the kernel opens the path as given, following links",
        "src/pywasi/sandbox/host.py",
        "fd = open_beneath(self.dir_fd, path, flags, 0o666, identity=self.identity)",
        "fd = os.open(path, flags & ~os.O_NOFOLLOW, 0o666, dir_fd=self.dir_fd)",
        ("tests/test_sandbox.py::test_host_side_races_cannot_make_a_path_escape[walk-a/x]",),
    ),
    Mutation(
        "a call into the guest holds the GIL", "src/pywasi/engine/ffi.py",
        '_call_unchecked: Final = _prototype("wasmtime_func_call_unchecked", _P, _P, _P, _P, '
        '_SIZE, _P)',
        '_call_unchecked: Final = ctypes.PyDLL(_dll._name)["wasmtime_func_call_unchecked"]\n'
        '_call_unchecked.restype, _call_unchecked.argtypes = _P, [_P, _P, _P, _SIZE, _P]',
        (_on_path("tests/test_many_guests.py::test_guest_code_runs_without_the_gil", "c"),),
    ),
    Mutation(
        "a path past PATH_MAX is read from guest memory before it is refused",
        "src/pywasi/syscalls/path.py",
        "    if length > PATH_MAX:\n        memory.check(ptr, length)  # EFAULT first\n"
        "        raise WasiErrno(Errno.NAMETOOLONG)\n", "",
        (_on_path("tests/test_redteam.py::test_pathological_paths_resolve_or_are_refused_unread",
                  "walk-c"),),
    ),
    Mutation(
        "trailing slash: a removed or renamed link is followed, every tree",
        "src/pywasi/sandbox/resolver.py",
        "looked_up = must_be_dir and act is Act.LOOKUP", "looked_up = must_be_dir",
        tuple(f"{SLASH}[{route}-python-{backing}]"
              for route, backing in (("walk", "host"), ("openat2", "host"), ("walk", "memory"))),
    ),
    Mutation(
        "trailing slash: the kernel route forgets what the call does",
        "src/pywasi/sandbox/resolver.py",
        "parts[end - 1], end < len(parts), follow, act)",
        "parts[end - 1], end < len(parts), follow, Act.LOOKUP)",
        (f"{SLASH}[openat2-python-host]",),
    ),
    Mutation(
        "trailing slash: the kernel route takes \"d/.\" for the entry \"d\"",
        "src/pywasi/sandbox/resolver.py",
        "    while end and not parts[end - 1]:", "    while end and parts[end - 1] in _TRIVIAL:",
        (f"{SLASH}[openat2-python-host]",),
    ),
    Mutation(
        "trailing slash: host rmdir follows a last link", "src/pywasi/sandbox/host.py",
        "def rmdir_at(self, path: bytes) -> None:\n"
        "        with self._resolve(path, False, Act.CHANGE)",
        "def rmdir_at(self, path: bytes) -> None:\n        with self._resolve(path, False)",
        (f"{SLASH}[walk-python-host]",),
    ),
    Mutation(
        "trailing slash: memory rmdir follows a last link", "src/pywasi/sandbox/memfs_open.py",
        "def rmdir_at(self, path: bytes) -> None:\n"
        "        with walk(MEMORY, self.node, path, follow=False, act=Act.CHANGE)",
        "def rmdir_at(self, path: bytes) -> None:\n"
        "        with walk(MEMORY, self.node, path, follow=False)",
        (f"{SLASH}[walk-python-memory]",),
    ),
    Mutation(
        "fuel: poll subscriptions cost nothing", "src/pywasi/fuel.py",
        "total += args[subscriptions] * PER_SUBSCRIPTION", "total += 0",
        (_on_path("tests/test_fuel.py::test_polls_pay_for_their_subscriptions", "python"),),
    ),
    Mutation(
        "fuel: a call that cannot pay runs anyway", "src/pywasi/fuel.py",
        "    if amount > left:\n        store.set_fuel(0)\n        raise",
        "    if False:\n        store.set_fuel(0)\n        raise",
        (_on_path("tests/test_fuel.py::test_polls_pay_for_their_subscriptions", "c"),),
    ),
    Mutation(
        "clock_res_get fixed at 1", "src/pywasi/syscalls/clocks.py",
        "resolution = max(1, round(time.clock_getres(CLOCKS[clock_id][1]) * 1e9))",
        "resolution = 1",
        ("tests/test_clock_resolution.py",),
    ),
    Mutation(
        "read-only tree: a change is ENOTCAPABLE, not EROFS", "src/pywasi/sandbox/rights.py",
        "    if read_only and missing & (CHANGING_PATHS | CHANGING_FILES):",
        "    if False:",
        ("tests/test_readonly.py::test_every_write_path_is_refused[c-host-memory]",
         "tests/test_readonly.py::test_command_line_dir_ro[c]"),
    ),
    Mutation(
        "a closed host stdin is lent by its number, which a later file takes",
        "src/pywasi/wasi.py",
        "            if value in STANDARD_FDS:\n                return ClosedStdio(direction)",
        "            if value in STANDARD_FDS:\n"
        "                return HostStream(value, direction)",
        ("tests/test_cli_closed_stdio.py::"
         "test_a_file_opened_on_a_closed_number_is_not_the_guests",),
    ),
    Mutation(
        "CLI: a closed stdout is given to the guest as the /dev/null holding its number",
        "src/pywasi/cli_stdio.py",
        "        return CLOSED if fd in self.closed else fd", "        return fd",
        ("tests/test_cli_closed_stdio.py::"
         "test_closed_stdout_writes_are_ebadf_without_a_traceback",),
    ),
    Mutation(
        "CLI: closed standard numbers are not held", "src/pywasi/cli_stdio.py",
        "        for _ in self.closed:", "        for _ in ():",
        ("tests/test_cli_closed_stdio.py::"
         "test_a_closed_number_is_held_so_no_file_of_the_run_lands_there",),
    ),
    Mutation(
        # Jobs of a thread pool would write into one another's (and the caller's) trees.
        "batch: a job's memory tree not copied for its run", "src/pywasi/batch.py",
        "        copy: MemoryDir = pickle.loads(pickle.dumps(source))",
        "        copy: MemoryDir = source",
        (_on_path("tests/test_batch.py::test_a_job_never_shares_its_trees", "c"),),
    ),
    Mutation(
        # Whatever listens at a batch's address (on another machine, its own localhost) could
        # stop the guests of that worker.
        "batch: stop line messages without the batch's secret", "src/pywasi/batch_stop.py",
        "    if not secrets.compare_digest(data[:-1], secret):", "    if False:",
        (_on_path("tests/test_batch.py::test_only_the_batch_can_stop_a_worker_over_its_line",
                  "c"),),
    ),
    Mutation(
        "replay takes any next call", "src/pywasi/reproducible/replay.py",
        "            if (expected[\"call\"], expected[\"args\"], expected.get(\"in\", [])) \\\n"
        "                    != (name, list(args), inputs):",
        "            if expected[\"call\"] != name:",
        (_on_path("tests/test_reproducible.py::"
                  "test_a_guest_passing_other_arguments_stops_at_that_call", "c"),),
    ),
    Mutation(
        "deterministic random_get from the host", "src/pywasi/reproducible/determinism.py",
        "target[begin:end] = state.random.randbytes(end - begin)",
        "target[begin:end] = __import__(\"os\").urandom(end - begin)",
        (_on_path("tests/test_reproducible.py::"
                  "test_two_deterministic_runs_are_byte_identical", "c"),),
    ),
    Mutation(
        # A guest polling for 2**64-1 ns took the clock past what a timestamp holds: its next
        # clock read raised ValueError out of the host.
        "deterministic clock runs past 2**64-1", "src/pywasi/reproducible/determinism.py",
        "        self.elapsed = min(self.elapsed + ns, _U64_MAX - self.settings.start)",
        "        self.elapsed += ns",
        (_on_path("tests/test_reproducible.py::"
                  "test_the_virtual_clock_stops_at_the_last_timestamp", "c"),),
    ),
    Mutation(
        "tables unbounded by default", "src/pywasi/engine/wasmtime_engine.py",
        "    if owned or limits.max_memory_size is not None \\",
        "    if limits.max_memory_size is not None \\",
        (_on_path("tests/test_table_limit.py::"
                  "test_a_table_grow_bomb_fails_under_the_default_limit", "c"),),
    ),
    Mutation(
        # Issue 16 item 1: run 1 leaves l -> ../outside, run 2's save wrote through it.
        "memory tree save: a host link where a directory goes is followed, not replaced",
        "src/pywasi/sandbox/memfs_host.py",
        "        st = _lstat(fd, name)\n"
        "        if st is not None and not stat.S_ISDIR(st.st_mode):\n"
        "            os.unlink(name, dir_fd=fd)\n"
        "            st = None\n"
        "        if st is None:\n"
        "            os.mkdir(name, dir_fd=fd)\n"
        "        return os.open(name, DIRECTORY, dir_fd=fd)",
        "        if _lstat(fd, name) is None:\n"
        "            os.mkdir(name, dir_fd=fd)\n"
        "        return os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)",
        (_on_path(f"{MEMTREE}::"
                  "test_two_runs_cannot_make_save_write_through_a_link_the_first_left", "c"),
         _on_path(f"{MEMTREE}::test_save_replaces_whatever_the_target_holds_in_the_way", "c")),
    ),
    Mutation(
        "memory tree save: directories it made are entered following links",
        "src/pywasi/sandbox/dirstack.py",
        "DIRECTORY: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC",
        "DIRECTORY: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC",
        (_on_path(f"{MEMTREE}::test_a_target_changed_during_the_save_is_refused_with_nothing_"
                  "written_outside", "c"),),
    ),
    Mutation(
        "archive link targets checked from the member name's slashes, not its place",
        "src/pywasi/sandbox/memfs_archive.py",
        '    depth = sum(part not in ("", ".") for part in name.split("/")) - 1',
        '    depth = name.strip("/").count("/")',
        (f"{MEMTREE}::test_hostile_archives_are_refused[tar-link-out-from-dot-slash]",),
    ),
    Mutation(
        # Issue 16 item 2: the cache's secret key was copied into the guest's tree.
        "from_path copies the compiled-module cache", "src/pywasi/sandbox/memfs_host.py",
        "                        if self.sealed(node.fd, node.st):",
        "                        if False:",
        (_on_path(f"{MEMTREE}::test_from_path_of_home_leaves_the_cache_and_its_key_out", "c"),),
    ),
    Mutation(
        # Deep trees: a walk coming back up reopens a parent as ".." of its child.
        "a deep walk goes on in whatever '..' names now", "src/pywasi/sandbox/dirstack.py",
        "                if _identity(parent) != self._ids[-2]:",
        "                if False:",
        (f"{DEEP}::test_a_walk_coming_back_up_refuses_a_directory_moved_elsewhere",),
    ),
    Mutation(
        "a deep walk holds a descriptor per level", "src/pywasi/sandbox/dirstack.py",
        "        if len(self._fds) - self._oldest_open > self.keep:",
        "        if False:",
        (f"{DEEP}::test_save_and_from_path_take_any_depth_with_few_descriptors",),
    ),
    Mutation(
        "from_path copies a FIFO swapped in after its lstat", "src/pywasi/sandbox/memfs_host.py",
        "                if (opened.st_dev, opened.st_ino, stat.S_IFMT(opened.st_mode)) != (",
        "                if False and (",
        (f"{DEEP}::test_from_path_refuses_a_fifo_swapped_in_after_it_looked",),
    ),
    Mutation(
        # Issue 16 item 4: a write far out stored the hole before it as zeros.
        "memory files stored densely", "src/pywasi/sandbox/memfs.py",
        "        chunks = self._chunks\n        written = 0\n",
        "        chunks = self._chunks\n"
        "        for hole in range(offset // CHUNK):\n"
        "            chunks.setdefault(hole, bytearray(CHUNK))\n"
        "        written = 0\n",
        (_on_path(f"{MEMTREE}::test_holes_cost_the_host_nothing_and_read_as_zeros",
                  "c-set_size-1GiB-write-at-512MiB"),),
    ),
    Mutation(
        # A byte at the start of each piece was charged 1 byte and cost the host ~130.
        "memory file pieces charged their bytes only", "src/pywasi/sandbox/memfs.py",
        "            growth = start + take - stored + (PIECE_COST if new else 0)",
        "            growth = start + take - stored",
        (f"{MEMTREE}::test_scattered_one_byte_writes_cannot_hold_the_host_past_the_bound",),
    ),
    Mutation(
        "memory directories charged as files", "src/pywasi/sandbox/memfs_open.py",
        "(DIRECTORY_COST if isinstance(node, MemoryDir) else 0)", "0",
        (f"{MEMTREE}::test_empty_directories_cannot_hold_the_host_past_the_bound",),
    ),
    Mutation(
        "memory tree quota never charged", "src/pywasi/sandbox/memfs.py",
        "                if growth > 0 and quota is not None:\n"
        "                    quota.charge(growth)",
        "                if False:\n"
        "                    quota.charge(growth)",
        (_on_path(f"{MEMTREE}::test_trees_store_at_most_max_memory_tree_bytes", "c"),),
    ),
    Mutation(
        # Issue 16 item 5: every fd_readdir rescanned the directory from its start.
        "memory readdir scans from the first entry", "src/pywasi/sandbox/memfs.py",
        "range(bisect_right(listed_cookies, cookie), len(listed_cookies))",
        "range(next((i for i, c in enumerate(listed_cookies) if c > cookie),"
        " len(listed_cookies)), len(listed_cookies))",
        (f"{MEMTREE}::test_a_readdir_call_costs_what_it_lists_not_what_came_before",),
    ),
    # What stops a guest compiled without epoch checks (the default): the stop check on
    # host-call entry, on each path; a Ctrl-C on entry to a Python host call; the signal
    # watcher's bell for a blocking wait no SIGINT interrupted. And a timeout's epoch checks.
    Mutation(
        "no stop check on host-call entry, C trampoline", TRAMPOLINE,
        "if (self->stop_flag != NULL && PyByteArray_AS_STRING(self->stop_flag)[0]) {",
        "if (0 && PyByteArray_AS_STRING(self->stop_flag)[0]) {",
        (_on_path(f"{STOPPING}::test_interrupt_stops_what_the_readme_says", "c-default-clock"),
         _on_path(f"{STOPPING}::test_a_stop_ends_compute_only_where_epoch_checks_were_compiled",
                  "c-default")),
    ),
    Mutation(
        "no stop check on host-call entry, Python host calls",
        "src/pywasi/engine/host_calls.py",
        "            if stop_flag[0]:\n                check_stop()",
        "            if False:\n                check_stop()",
        (_on_path(f"{STOPPING}::test_interrupt_stops_what_the_readme_says",
                  "python-uninterruptible-clock"),),
    ),
    Mutation(
        "a Ctrl-C on entry to a Python host call dropped", "src/pywasi/engine/host_calls.py",
        "        signal_watcher.entries.add(host_call.__code__)",
        "        pass",
        (_on_path(f"{STOPPING}::test_ctrl_c_stops_what_the_readme_says", "python-default-clock"),),
    ),
    Mutation(
        "a blocking wait no SIGINT interrupted is not woken", "src/pywasi/engine/interrupt.py",
        "                guest.nudge()", "                pass",
        (_on_path(f"{STOPPING}::test_a_ctrl_c_that_another_thread_takes_still_ends_a_"
                  "blocking_wait", "c-sleep"),
         _on_path(f"{STOPPING}::test_a_ctrl_c_that_another_thread_takes_still_ends_a_"
                  "blocking_wait", "python-stdin")),
    ),
    Mutation(
        "a guest ending on another thread makes the main thread's guest forgotten",
        "src/pywasi/engine/interrupt.py",
        "            if on_main_thread:\n                signal_watcher.guest = outer",
        "            if True:\n                signal_watcher.guest = outer",
        (_on_path(f"{STOPPING}::test_a_guest_ending_on_another_thread_leaves_the_main_"
                  "threads_ctrl_c_alone", "python"),),
    ),
    Mutation(
        "Ctrl-C does not end pywasi run's compute without epoch checks", "src/pywasi/cli.py",
        "        signal_watcher.on_interrupt = end_the_process", "        pass",
        (_on_path(f"{STOPPING}::test_ctrl_c_ends_pywasi_run_in_every_mode", "c-default-compute"),),
    ),
    Mutation(
        "a timeout compiles no epoch checks", "src/pywasi/engine/engines.py",
        "            if epochs:\n                settings = {**settings, **INTERRUPTIBLE}",
        "            if False:\n                settings = {**settings, **INTERRUPTIBLE}",
        (_on_path(f"{STOPPING}::test_a_timeout_stops_every_guest", "c-compute"),),
    ),
    Mutation(
        "a WASI object with preopens leaves the compiled-module cache unprotected",
        "src/pywasi/wasi.py",
        "        if preopens:  # so that no guest plants native code for a later run\n"
        "            protect_cache()\n", "",
        (CACHE_POLICY + "test_a_wasi_object_with_preopens_protects_the_cache",),
    ),
    Mutation(
        "the cache opens its directory without protecting it", "src/pywasi/engine/cache.py",
        "    protect_cache(location.path)  # now with the directory's identity", "",
        (CACHE_POLICY + "test_the_cache_protects_its_directory_when_it_opens_it",),
    ),
    Mutation(
        "a memory tree copied from home takes the compiled-module cache along",
        "src/pywasi/sandbox/memfs_host.py",
        "    protect_cache()\n    fd = os.open(path,", "    fd = os.open(path,",
        (CACHE_POLICY + "test_a_memory_tree_copy_of_home_leaves_the_cache_out",),
    ),
    Mutation(
        "a binary recording's frame length is not checked against the file",
        "src/pywasi/reproducible/logformat.py",
        "if size is None or size > len(data) - at - 8:", "if size is None:",
        ("tests/test_reproducible_binary.py::"
         "test_a_frame_claiming_4_gib_allocates_nothing_of_the_kind[python]",),
    ),
    Mutation(
        "a binary recording's blob length is not checked against its frame",
        "src/pywasi/reproducible/logformat.py",
        "if size > len(body) - at - 4:", "if False:",
        ("tests/test_reproducible_binary.py::"
         "test_a_damaged_binary_log_is_a_clear_error[python-blob size]",),
    ),
)

# Builds the trampoline into the copy's source tree, without reading pyproject.toml (whose
# metadata may need a newer setuptools than the one at hand).
_BUILD_TRAMPOLINE = f"""
from setuptools import Distribution, Extension
dist = Distribution({{
    "name": "pywasi-mutant", "package_dir": {{"": "src"}},
    "ext_modules": [Extension("pywasi.engine._trampoline", sources=[{TRAMPOLINE!r}])],
}})
command = dist.get_command_obj("build_ext")
command.inplace = True
command.force = True
dist.run_command("build_ext")
"""

_NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", ".pytest_cache", ".hypothesis", ".mypy_cache",
    ".ruff_cache", "pkgs", "pywasi-cache", "wasmtime-cache", "*.so",
)


class Scratch:
    """A copy of the repository that mutations are applied to, one at a time."""

    def __init__(self, root: Path) -> None:
        self.root = root
        shutil.copytree(REPO, root, ignore=_NOT_COPIED, dirs_exist_ok=True)
        self.env = {**os.environ, "PYTHONPATH": str(root / "src")}
        self.env.pop("PYWASI_TRAMPOLINE", None)
        self.build_trampoline()
        self.trampoline = self._built_trampoline().read_bytes()
        where = subprocess.run(
            [sys.executable, "-c", "import pywasi.engine._trampoline as t; print(t.__file__)"],
            env=self.env, cwd=root, capture_output=True, text=True,
        )
        if not where.stdout.startswith(str(root)):
            raise SystemExit(f"the copy's pywasi is not the one imported: {where.stderr}")

    def _built_trampoline(self) -> Path:
        (built,) = (self.root / "src/pywasi/engine").glob("_trampoline*.so")
        return built

    def build_trampoline(self) -> None:
        build = subprocess.run([sys.executable, "-c", _BUILD_TRAMPOLINE], cwd=self.root,
                               env=self.env, capture_output=True, text=True)
        if build.returncode:
            raise SystemExit(f"building the trampoline failed:\n{build.stdout}{build.stderr}")

    def run_tests(self, tests: Sequence[str], show: bool = False) -> int:
        """pytest's exit status for `tests` against the copy; -1 if they outran the limit.
        With `show`, the end of pytest's report is printed (to see why a mutant died)."""
        command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                   "--tb=line", *tests]
        try:
            run = subprocess.run(command, cwd=self.root, env=self.env, capture_output=True,
                                 text=True, timeout=SECONDS_PER_RUN)
        except subprocess.TimeoutExpired:
            return -1
        if show:
            print("".join(f"    | {line}\n" for line in run.stdout.splitlines()[-6:]))
        return run.returncode

    def apply(self, mutation: Mutation) -> str | None:
        """Apply `mutation`; the original text of its file, or None if it does not apply."""
        path = self.root / mutation.file
        original = path.read_text()
        if original.count(mutation.old) != 1:
            return None
        path.write_text(original.replace(mutation.old, mutation.new))
        if mutation.file == TRAMPOLINE:
            self.build_trampoline()
        return original

    def restore(self, mutation: Mutation, original: str) -> None:
        (self.root / mutation.file).write_text(original)
        if mutation.file == TRAMPOLINE:
            self._built_trampoline().write_bytes(self.trampoline)


def uncollected(tests: Sequence[str], root: Path = REPO,
                env: dict[str, str] | None = None) -> list[str]:
    """The pytest arguments in `tests` that pytest does not collect as written in `root`: a test
    id must name collected tests exactly, its parametrized ``[...]`` suffix included. Their
    files are collected whole (pytest collects nothing at all if one argument matches nothing)."""
    files = sorted({test.partition("::")[0] for test in tests})
    command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
               *files]
    run = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True,
                         timeout=SECONDS_PER_RUN)
    ids = run.stdout.splitlines()
    return [test for test in tests
            if not any(found == test or found.startswith((f"{test}::", f"{test}["))
                       for found in ids)]


def outcome(status: int) -> str:
    """What a pytest exit status says about a mutation."""
    if status == 0:
        return "SURVIVED"
    if status == 1 or status < 0 or status >= 128:
        return "KILLED"  # tests failed, hung past the limit, or the process crashed
    return f"ERROR (pytest exit status {status}: tests missing or not collected)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="run only mutations whose name contains one")
    parser.add_argument("--show", action="store_true", help="print how each mutant died")
    options = parser.parse_args(argv)
    chosen_names = options.names
    chosen = [m for m in MUTATIONS if not chosen_names or any(n in m.name for n in chosen_names)]
    with tempfile.TemporaryDirectory(prefix="pywasi-mutants-") as scratch_dir:
        scratch = Scratch(Path(scratch_dir))
        every_test = sorted({test for mutation in chosen for test in mutation.tests})
        missing = uncollected(every_test, scratch.root, scratch.env)
        if missing:
            print(f"pytest collects no test for these ids; update tools/mutate.py: "
                  f"{' '.join(missing)}")
            return 1
        baseline = scratch.run_tests(every_test)
        if baseline:
            print(f"the tests fail on the unmutated tree (pytest exit status {baseline}); "
                  f"fix that first: {' '.join(every_test)}")
            return 1
        print(f"unmutated tree: {len(every_test)} test selections pass")
        failures = 0
        for mutation in chosen:
            started = time.monotonic()
            original = scratch.apply(mutation)
            if original is None:
                verdict = "NO LONGER APPLIES"
                detail = f": the text is not in {mutation.file} exactly once; update mutate.py"
            else:
                try:
                    verdict = outcome(scratch.run_tests(mutation.tests, options.show))
                finally:
                    scratch.restore(mutation, original)
                detail = f"  ({time.monotonic() - started:.1f} s)"
            failures += verdict != "KILLED"
            print(f"{verdict:9} {mutation.name}{detail}", flush=True)
    print(f"{len(chosen) - failures} of {len(chosen)} mutations killed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
