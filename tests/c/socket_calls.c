/* sock_* and fd_* calls on fd 3, a socket the test hands over; prints one line per result.
 *   dgram:  fd 3 holds the datagrams "0123456789" and "ab"
 *   stream: fd 3 holds "hello"; " world" follows a little later; the peer reads what we send */
#include <inttypes.h>
#include <wasi/api.h>
#include "check.h"

#define SOCK 3

static __wasi_errno_t receive(__wasi_iovec_t *iovs, size_t count, __wasi_riflags_t flags,
                              const char *what) {
    __wasi_size_t received = 0;
    __wasi_roflags_t roflags = 0;
    __wasi_errno_t error = __wasi_sock_recv(SOCK, iovs, count, flags, &received, &roflags);
    printf("%s: errno %d size %u roflags %d\n", what, error, (unsigned)received, roflags);
    return error;
}

static __wasi_errno_t send_text(__wasi_fd_t fd, const char *text, __wasi_siflags_t flags) {
    __wasi_ciovec_t iov = {.buf = (const uint8_t *)text, .buf_len = strlen(text)};
    __wasi_size_t sent = 0;
    return __wasi_sock_send(fd, &iov, 1, flags, &sent);
}

static void datagrams(void) {
    char a[4], b[3], c[3], d[8];
    __wasi_iovec_t peek = {.buf = (uint8_t *)a, .buf_len = sizeof a};
    receive(&peek, 1, __WASI_RIFLAGS_RECV_PEEK, "peek 4 of 10");
    printf("peeked %.4s\n", a);
    __wasi_iovec_t two[2] = {{.buf = (uint8_t *)b, .buf_len = 3}, {.buf = (uint8_t *)c, .buf_len = 3}};
    receive(two, 2, 0, "recv 3+3 of 10");
    printf("got %.3s %.3s\n", b, c);
    __wasi_iovec_t whole = {.buf = (uint8_t *)d, .buf_len = sizeof d};
    receive(&whole, 1, 0, "recv 8 of 2");
    printf("got %.2s\n", d);
}

static void stream(void) {
    char text[12] = {0};
    __wasi_iovec_t iov = {.buf = (uint8_t *)text, .buf_len = 11};
    receive(&iov, 1, __WASI_RIFLAGS_RECV_WAITALL, "waitall 11");
    printf("got %s\n", text);
    receive(&iov, 1, 4, "riflags 4");

    CHECK_EQ(__wasi_fd_fdstat_set_flags(SOCK, __WASI_FDFLAGS_NONBLOCK), 0);
    __wasi_fdstat_t stat;
    CHECK_EQ(__wasi_fd_fdstat_get(SOCK, &stat), 0);
    printf("fdstat: filetype %d flags %d\n", stat.fs_filetype, stat.fs_flags);
    receive(&iov, 1, 0, "nonblocking, nothing there");
    __wasi_filestat_t filestat;
    CHECK_EQ(__wasi_fd_filestat_get(SOCK, &filestat), 0);
    printf("filestat: filetype %d\n", filestat.filetype);

    __wasi_ciovec_t out = {.buf = (const uint8_t *)"by fd_write;", .buf_len = 12};
    __wasi_size_t written = 0;
    printf("fd_write: errno %d size %u\n", __wasi_fd_write(SOCK, &out, 1, &written),
           (unsigned)written);
    printf("sock_send: errno %d\n", send_text(SOCK, "by sock_send", 0));
    printf("sock_send siflags 1: errno %d\n", send_text(SOCK, "x", 1));
    printf("sock_send stdin: errno %d\n", send_text(0, "x", 0));
    printf("sock_send fd 99: errno %d\n", send_text(99, "x", 0));
    printf("shutdown 0: errno %d\n", __wasi_sock_shutdown(SOCK, 0));
    printf("shutdown 4: errno %d\n", __wasi_sock_shutdown(SOCK, 4));
    printf("shutdown stdout: errno %d\n", __wasi_sock_shutdown(1, __WASI_SDFLAGS_WR));
    printf("shutdown wr: errno %d\n", __wasi_sock_shutdown(SOCK, __WASI_SDFLAGS_WR));
    printf("send after wr: errno %d\n", send_text(SOCK, "x", 0));
    printf("shutdown rd: errno %d\n", __wasi_sock_shutdown(SOCK, __WASI_SDFLAGS_RD));
    receive(&iov, 1, 0, "recv after rd");
    __wasi_fd_t accepted;
    printf("accept on a connection: errno %d\n", __wasi_sock_accept(SOCK, 0, &accepted));
}

int main(int argc, char **argv) {
    CHECK_EQ(argc, 2);
    if (strcmp(argv[1], "dgram") == 0)
        datagrams();
    else
        stream();
    return 0;
}
