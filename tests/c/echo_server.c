/* A TCP echo server for pywasi's --tcplisten / WASI(sockets=...): fd 3 is the listener.
 * Checks its sockets' fdstat and a few error paths, prints "ready", then serves any number
 * of clients at once with poll(). A client's "quit" gets "bye\n" and stops the server, which
 * then shuts down and closes every connection and prints "served N". */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <wasi/api.h>
#include "check.h"

#define LISTENER 3
#define MAX_FDS 128

static struct pollfd fds[MAX_FDS];
static int nfds;

static void send_all(int fd, const char *data, size_t length) {
    while (length > 0) {
        ssize_t sent = send(fd, data, length, 0);
        if (sent < 0) {
            CHECK_EQ(errno, EAGAIN);  /* the peer is slow to read: wait for room */
            struct pollfd out = {.fd = fd, .events = POLLOUT};
            CHECK_EQ(poll(&out, 1, -1), 1);
            continue;
        }
        data += sent;
        length -= (size_t)sent;
    }
}

static void drop(int index) {
    CHECK_EQ(close(fds[index].fd), 0);
    fds[index] = fds[--nfds];
}

static void check_setup(void) {
    __wasi_fdstat_t stat;
    CHECK_EQ(__wasi_fd_fdstat_get(LISTENER, &stat), 0);
    CHECK_EQ(stat.fs_filetype, __WASI_FILETYPE_SOCKET_STREAM);
    CHECK(stat.fs_rights_base & __WASI_RIGHTS_SOCK_ACCEPT);
    char byte;
    __wasi_iovec_t iov = {.buf = (uint8_t *)&byte, .buf_len = 1};
    __wasi_size_t received;
    __wasi_roflags_t roflags;
    CHECK_EQ(__wasi_sock_recv(0, &iov, 1, 0, &received, &roflags), __WASI_ERRNO_NOTSOCK);
    CHECK_EQ(__wasi_sock_recv(99, &iov, 1, 0, &received, &roflags), __WASI_ERRNO_BADF);
    CHECK_EQ(__wasi_sock_shutdown(LISTENER, 4), __WASI_ERRNO_INVAL);
    __wasi_fd_t fd;
    CHECK_EQ(__wasi_sock_accept(1, 0, &fd), __WASI_ERRNO_NOTSOCK);
    CHECK_EQ(fcntl(LISTENER, F_SETFL, O_NONBLOCK), 0);
    CHECK_EQ(__wasi_sock_accept(LISTENER, 0, &fd), __WASI_ERRNO_AGAIN);  /* nobody yet */
}

int main(void) {
    check_setup();
    printf("ready\n");
    fflush(stdout);
    fds[0] = (struct pollfd){.fd = LISTENER, .events = POLLIN};
    nfds = 1;
    int served = 0, quit = 0;
    static char buf[65536];
    while (!quit) {
        CHECK(poll(fds, (nfds_t)nfds, -1) > 0);
        for (int i = nfds - 1; i >= 1; i--) {
            if (!(fds[i].revents & (POLLIN | POLLHUP)))
                continue;
            char head[4];
            ssize_t peeked = recv(fds[i].fd, head, sizeof head, MSG_PEEK);
            if (peeked == 4 && memcmp(head, "quit", 4) == 0) {
                send_all(fds[i].fd, "bye\n", 4);
                quit = 1;
                break;
            }
            ssize_t received = recv(fds[i].fd, buf, sizeof buf, 0);
            if (received < 0 && errno == EAGAIN)
                continue;
            if (received <= 0) {  /* the client is done (or gone): so are we */
                drop(i);
                continue;
            }
            if (peeked > 0)  /* what MSG_PEEK saw is what recv then takes */
                CHECK(received >= peeked && memcmp(head, buf, (size_t)peeked) == 0);
            send_all(fds[i].fd, buf, (size_t)received);
        }
        if (fds[0].revents & POLLIN) {
            __wasi_fd_t fd;
            __wasi_errno_t error;
            while ((error = __wasi_sock_accept(LISTENER, __WASI_FDFLAGS_NONBLOCK, &fd)) == 0) {
                __wasi_fdstat_t stat;
                CHECK_EQ(__wasi_fd_fdstat_get(fd, &stat), 0);
                CHECK_EQ(stat.fs_flags, __WASI_FDFLAGS_NONBLOCK);
                CHECK(nfds < MAX_FDS);
                fds[nfds++] = (struct pollfd){.fd = (int)fd, .events = POLLIN};
                served++;
            }
            CHECK_EQ(error, __WASI_ERRNO_AGAIN);
        }
    }
    while (nfds > 1) {
        CHECK_EQ(shutdown(fds[nfds - 1].fd, SHUT_RDWR), 0);
        drop(nfds - 1);
    }
    CHECK_EQ(close(LISTENER), 0);
    printf("served %d\n", served);
    return 0;
}
