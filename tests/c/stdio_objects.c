/* The guest of tests/test_stdio_objects.py; the first argument picks what it does:
 *   copy       stdin to stdout in upper case, then "N bytes" to stderr; on a failed read or
 *              write, "read errno E" / "write errno E" to stderr and exit 3
 *   mixed N    N numbered lines, each to stdout or stderr (stderr when i % 3 == 0 or
 *              i % 7 == 0), by write(2), no stdio buffering
 *   split      "é" to stdout one byte per write
 *   renumber   moves stdout over stderr, writes through fd 2, closes every stdio fd
 *   fdstat     per stdio fd: "fd F filetype T seek S tell T isatty I" on stdout
 *   poll       polls stdin, reads all of it, polls again, then polls stdout and stderr for
 *              writing: "SUBS error E type T nbytes N flags F" per event, on stdout */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <wasi/api.h>
#include "check.h"

static int copy(void) {
    char buf[4096];
    long total = 0;
    for (;;) {
        ssize_t got = read(0, buf, sizeof buf);
        if (got < 0) {
            fprintf(stderr, "read errno %d\n", errno);
            return 3;
        }
        if (got == 0) break;
        for (ssize_t i = 0; i < got; i++) buf[i] = (char)toupper((unsigned char)buf[i]);
        if (write(1, buf, (size_t)got) != got) {
            fprintf(stderr, "write errno %d\n", errno);
            return 3;
        }
        total += got;
    }
    fprintf(stderr, "%ld bytes\n", total);
    return 0;
}

static int mixed(int count) {
    char line[32];
    for (int i = 0; i < count; i++) {
        int length = snprintf(line, sizeof line, "%d\n", i);
        int fd = (i % 3 == 0 || i % 7 == 0) ? 2 : 1;
        CHECK_EQ(write(fd, line, (size_t)length), length);
    }
    return 0;
}

static int split(void) {
    CHECK_EQ(write(1, "\xc3", 1), 1);
    CHECK_EQ(write(1, "\xa9", 1), 1);
    return 0;
}

static int renumber(void) {
    CHECK_EQ(__wasi_fd_renumber(1, 2), 0);  /* closes what stderr was */
    CHECK_EQ(write(2, "through 2\n", 10), 10);
    CHECK_EQ(__wasi_fd_close(2), 0);
    CHECK_EQ(__wasi_fd_close(0), 0);
    CHECK_EQ(__wasi_fd_fdstat_get(1, &(__wasi_fdstat_t){0}), __WASI_ERRNO_BADF);
    return 0;
}

static int fdstat(void) {
    for (int fd = 0; fd < 3; fd++) {
        __wasi_fdstat_t stat;
        CHECK_EQ(__wasi_fd_fdstat_get(fd, &stat), 0);
        printf("fd %d filetype %d seek %d tell %d isatty %d\n", fd, stat.fs_filetype,
               (stat.fs_rights_base & __WASI_RIGHTS_FD_SEEK) != 0,
               (stat.fs_rights_base & __WASI_RIGHTS_FD_TELL) != 0, isatty(fd));
    }
    return 0;
}

static void poll_and_print(const char *what, int count, const __wasi_subscription_t *subs) {
    __wasi_event_t events[2];
    __wasi_size_t nevents = 0;
    CHECK_EQ(__wasi_poll_oneoff(subs, events, (__wasi_size_t)count, &nevents), 0);
    for (__wasi_size_t i = 0; i < nevents; i++)
        printf("%s %d error %d type %d nbytes %llu flags %d\n", what, (int)events[i].userdata,
               events[i].error, events[i].type,
               (unsigned long long)events[i].fd_readwrite.nbytes, events[i].fd_readwrite.flags);
}

static __wasi_subscription_t on_fd(int fd, __wasi_eventtype_t type) {
    __wasi_subscription_t sub;
    memset(&sub, 0, sizeof sub);
    sub.userdata = (uint64_t)fd;
    sub.u.tag = type;
    sub.u.u.fd_read.file_descriptor = fd;  /* fd_read and fd_write have the same layout */
    return sub;
}

static int poll(void) {
    __wasi_subscription_t in = on_fd(0, __WASI_EVENTTYPE_FD_READ);
    poll_and_print("before", 1, &in);
    char buf[256];
    long total = 0;
    for (ssize_t got; (got = read(0, buf, sizeof buf)) > 0;) total += got;
    printf("read %ld\n", total);
    poll_and_print("after", 1, &in);
    __wasi_subscription_t out[2] = {on_fd(1, __WASI_EVENTTYPE_FD_WRITE),
                                    on_fd(2, __WASI_EVENTTYPE_FD_WRITE)};
    poll_and_print("write", 2, out);
    return 0;
}

int main(int argc, char **argv) {
    CHECK(argc >= 2);
    const char *mode = argv[1];
    if (strcmp(mode, "copy") == 0) return copy();
    if (strcmp(mode, "mixed") == 0 && argc == 3) return mixed(atoi(argv[2]));
    if (strcmp(mode, "split") == 0) return split();
    if (strcmp(mode, "renumber") == 0) return renumber();
    if (strcmp(mode, "fdstat") == 0) return fdstat();
    if (strcmp(mode, "poll") == 0) return poll();
    fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
}
