/* The foundation's system calls through the raw WASI imports: results, layouts and EFAULT.
 * argv[1] names the case to run; each prints PASS or the failed check. */
#include <wasi/api.h>
#include <stdint.h>
#include "check.h"

/* wasi-libc no longer declares the deprecated proc_raise; import it directly. */
__attribute__((import_module("wasi_snapshot_preview1"), import_name("proc_raise")))
uint16_t raw_proc_raise(uint32_t signal);
enum { SIG_NONE = 0, SIG_KILL = 9, SIG_TERM = 15, SIG_CHLD = 16 };

/* An address past the end of linear memory, and one whose 8 bytes straddle the end. */
#define WILD ((void *)0xFFFFFFF0u)
static void *straddling_end(unsigned size) {
    return (void *)(uintptr_t)(__builtin_wasm_memory_size(0) * 65536u - size / 2);
}

static int args_case(void) {
    __wasi_size_t argc, buf_size;
    CHECK_EQ(__wasi_args_sizes_get(&argc, &buf_size), 0);
    CHECK_EQ(argc, 5);  /* guest, args, one, "two words", "" */
    CHECK_EQ(buf_size, 6 + 5 + 4 + 10 + 1);
    char *argv[5];
    char buf[26];
    memset(buf, 'X', sizeof buf);
    CHECK_EQ(__wasi_args_get((uint8_t **)argv, (uint8_t *)buf), 0);
    CHECK(memcmp(buf, "guest\0args\0one\0two words\0\0", 26) == 0);
    CHECK(argv[0] == buf && argv[1] == buf + 6 && argv[2] == buf + 11 && argv[3] == buf + 15);
    CHECK(argv[4] == buf + 25);
    CHECK_EQ(__wasi_args_sizes_get(WILD, &buf_size), __WASI_ERRNO_FAULT);
    CHECK_EQ(__wasi_args_sizes_get(&argc, straddling_end(4)), __WASI_ERRNO_FAULT);
    CHECK_EQ(__wasi_args_get(WILD, (uint8_t *)buf), __WASI_ERRNO_FAULT);
    CHECK_EQ(__wasi_args_get((uint8_t **)argv, straddling_end(26)), __WASI_ERRNO_FAULT);
    PASS();
}

static int environ_case(void) {
    __wasi_size_t count, buf_size;
    CHECK_EQ(__wasi_environ_sizes_get(&count, &buf_size), 0);
    CHECK_EQ(count, 2);
    CHECK_EQ(buf_size, 4 + 8);
    char *env[2];
    char buf[12];
    CHECK_EQ(__wasi_environ_get((uint8_t **)env, (uint8_t *)buf), 0);
    CHECK(memcmp(buf, "A=1\0B=x y z\0", 12) == 0);
    CHECK(env[0] == buf && env[1] == buf + 4);
    CHECK_EQ(__wasi_environ_sizes_get(&count, WILD), __WASI_ERRNO_FAULT);
    CHECK_EQ(__wasi_environ_get((uint8_t **)env, WILD), __WASI_ERRNO_FAULT);
    PASS();
}

static int clocks_case(void) {
    for (__wasi_clockid_t id = 0; id < 4; id++) {
        __wasi_timestamp_t res = 0, t1 = 0, t2 = 0;
        CHECK_EQ(__wasi_clock_res_get(id, &res), 0);
        CHECK(res > 0 && res <= 1000000000ull);
        CHECK_EQ(__wasi_clock_time_get(id, 1, &t1), 0);
        for (volatile int i = 0; i < 100000; i++) {}
        CHECK_EQ(__wasi_clock_time_get(id, 1, &t2), 0);
        CHECK(t2 >= t1);
        CHECK_EQ(__wasi_clock_time_get(id, 0, WILD), __WASI_ERRNO_FAULT);
        CHECK_EQ(__wasi_clock_res_get(id, straddling_end(8)), __WASI_ERRNO_FAULT);
    }
    __wasi_timestamp_t t;
    CHECK_EQ(__wasi_clock_time_get(4, 1, &t), __WASI_ERRNO_INVAL);
    CHECK_EQ(__wasi_clock_res_get(0xFFFFFFFFu, &t), __WASI_ERRNO_INVAL);
    /* realtime is after 2020-01-01 and monotonic moves forward by real time. */
    CHECK_EQ(__wasi_clock_time_get(__WASI_CLOCKID_REALTIME, 1, &t), 0);
    CHECK(t > 1577836800ull * 1000000000ull);
    PASS();
}

static int random_case(void) {
    uint8_t a[64] = {0}, b[64] = {0};
    CHECK_EQ(__wasi_random_get(a, sizeof a), 0);
    CHECK_EQ(__wasi_random_get(b, sizeof b), 0);
    CHECK(memcmp(a, b, sizeof a) != 0);
    CHECK_EQ(__wasi_random_get(a, 0), 0);
    CHECK_EQ(__wasi_random_get(WILD, 16), __WASI_ERRNO_FAULT);
    CHECK_EQ(__wasi_random_get(a, 0xFFFFFFFFu), __WASI_ERRNO_FAULT);
    CHECK_EQ(__wasi_random_get(straddling_end(64), 64), __WASI_ERRNO_FAULT);
    PASS();
}

static int sched_case(void) {
    CHECK_EQ(__wasi_sched_yield(), 0);
    PASS();
}

static int stdio_case(void) {
    __wasi_fdstat_t st;
    for (__wasi_fd_t fd = 0; fd < 3; fd++) {
        CHECK_EQ(__wasi_fd_fdstat_get(fd, &st), 0);
        CHECK(st.fs_rights_base & (fd == 0 ? __WASI_RIGHTS_FD_READ : __WASI_RIGHTS_FD_WRITE));
    }
    CHECK_EQ(__wasi_fd_fdstat_get(1, WILD), __WASI_ERRNO_FAULT);
    CHECK_EQ(__wasi_fd_fdstat_get(99, &st), __WASI_ERRNO_BADF);

    const char *parts[] = {"hel", "", "lo ", "world\n"};
    __wasi_ciovec_t iov[4];
    for (int i = 0; i < 4; i++) { iov[i].buf = (const uint8_t *)parts[i]; iov[i].buf_len = strlen(parts[i]); }
    __wasi_size_t n = 0;
    CHECK_EQ(__wasi_fd_write(1, iov, 4, &n), 0);
    CHECK_EQ(n, 12);
    CHECK_EQ(__wasi_fd_write(1, iov, 0, &n), 0);
    CHECK_EQ(n, 0);
    CHECK_EQ(__wasi_fd_write(2, iov, 1, &n), 0);
    /* Nothing is written when any part is out of bounds. */
    __wasi_ciovec_t bad[2] = {{(const uint8_t *)"zzz", 3}, {WILD, 4}};
    CHECK_EQ(__wasi_fd_write(1, bad, 2, &n), __WASI_ERRNO_FAULT);
    CHECK_EQ(__wasi_fd_write(1, WILD, 1, &n), __WASI_ERRNO_FAULT);
    CHECK_EQ(__wasi_fd_write(1, iov, 0x7FFFFFFF, &n), __WASI_ERRNO_INVAL);  /* > IOV_MAX */
    CHECK_EQ(__wasi_fd_write(1, iov, 1, WILD), __WASI_ERRNO_FAULT);
    CHECK_EQ(__wasi_fd_write(99, iov, 1, &n), __WASI_ERRNO_BADF);
    CHECK_EQ(__wasi_fd_write(0, iov, 1, &n), __WASI_ERRNO_BADF);  /* stdin is for reading */
    CHECK_EQ(__wasi_fd_read(1, (__wasi_iovec_t *)iov, 1, &n), __WASI_ERRNO_BADF);

    char in[8] = {0};
    __wasi_iovec_t riov[2] = {{(uint8_t *)in, 3}, {(uint8_t *)in + 3, 5}};
    CHECK_EQ(__wasi_fd_read(0, riov, 2, &n), 0);
    CHECK_EQ(n, 8);
    CHECK(memcmp(in, "input da", 8) == 0);
    CHECK_EQ(__wasi_fd_read(0, riov, 1, &n), 0);
    CHECK_EQ(n, 2);
    CHECK(memcmp(in, "ta", 2) == 0);
    CHECK_EQ(__wasi_fd_read(0, riov, 1, &n), 0);
    CHECK_EQ(n, 0);  /* end of input */
    __wasi_iovec_t rbad = {WILD, 4};
    CHECK_EQ(__wasi_fd_read(0, &rbad, 1, &n), __WASI_ERRNO_FAULT);
    CHECK_EQ(__wasi_fd_read(99, riov, 1, &n), __WASI_ERRNO_BADF);

    /* Closing the guest's stdout leaves the host's alone: stderr still works afterwards. */
    CHECK_EQ(__wasi_fd_close(1), 0);
    CHECK_EQ(__wasi_fd_close(1), __WASI_ERRNO_BADF);
    CHECK_EQ(__wasi_fd_write(1, iov, 1, &n), __WASI_ERRNO_BADF);
    iov[0].buf = (const uint8_t *)"after close\n"; iov[0].buf_len = 12;
    CHECK_EQ(__wasi_fd_write(2, iov, 1, &n), 0);
    return 0;
}

static int prestat_case(void) {
    __wasi_prestat_t pre;
    CHECK_EQ(__wasi_fd_prestat_get(3, &pre), 0);
    CHECK_EQ(pre.tag, __WASI_PREOPENTYPE_DIR);
    CHECK_EQ(pre.u.dir.pr_name_len, 8);
    char name[16];
    memset(name, '#', sizeof name);
    CHECK_EQ(__wasi_fd_prestat_dir_name(3, (uint8_t *)name, sizeof name), 0);
    CHECK(memcmp(name, "/sandbox##", 10) == 0);  /* no NUL written */
    CHECK_EQ(__wasi_fd_prestat_dir_name(3, (uint8_t *)name, 7), __WASI_ERRNO_NAMETOOLONG);
    CHECK_EQ(__wasi_fd_prestat_dir_name(3, WILD, 8), __WASI_ERRNO_FAULT);
    CHECK_EQ(__wasi_fd_prestat_get(3, WILD), __WASI_ERRNO_FAULT);
    CHECK_EQ(__wasi_fd_prestat_get(4, &pre), 0);
    CHECK_EQ(pre.u.dir.pr_name_len, 1);
    CHECK_EQ(__wasi_fd_prestat_get(5, &pre), __WASI_ERRNO_BADF);
    CHECK_EQ(__wasi_fd_prestat_get(1, &pre), __WASI_ERRNO_BADF);
    __wasi_fdstat_t st;
    CHECK_EQ(__wasi_fd_fdstat_get(3, &st), 0);
    CHECK_EQ(st.fs_filetype, __WASI_FILETYPE_DIRECTORY);
    CHECK(st.fs_rights_base & __WASI_RIGHTS_PATH_OPEN);
    CHECK_EQ(__wasi_fd_close(3), 0);
    CHECK_EQ(__wasi_fd_prestat_get(3, &pre), __WASI_ERRNO_BADF);
    PASS();
}

static int raise_case(const char *which) {
    /* Ignored signals return; terminating ones end the guest, not the host. */
    CHECK_EQ(raw_proc_raise(SIG_CHLD), 0);
    CHECK_EQ(raw_proc_raise(SIG_NONE), 0);
    CHECK_EQ(raw_proc_raise(200), __WASI_ERRNO_INVAL);
    printf("before\n");
    fflush(stdout);
    raw_proc_raise(strcmp(which, "kill") == 0 ? SIG_KILL : SIG_TERM);
    printf("not reached\n");
    return 0;
}

static int exit_case(void) {
    printf("exiting\n");
    fflush(stdout);
    __wasi_proc_exit(42);
}

int main(int argc, char **argv) {
    const char *which = argc > 1 ? argv[1] : "";
    if (!strcmp(which, "args")) return args_case();
    if (!strcmp(which, "environ")) return environ_case();
    if (!strcmp(which, "clocks")) return clocks_case();
    if (!strcmp(which, "random")) return random_case();
    if (!strcmp(which, "sched")) return sched_case();
    if (!strcmp(which, "stdio")) return stdio_case();
    if (!strcmp(which, "prestat")) return prestat_case();
    if (!strcmp(which, "raise") && argc > 2) return raise_case(argv[2]);
    if (!strcmp(which, "exit")) return exit_case();
    printf("unknown case %s\n", which);
    return 2;
}
