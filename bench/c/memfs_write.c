/* 64 MiB (argv[1] pieces of 4 KiB) written into a new file "out" in the preopen, fd 3, with
 * one raw __wasi_fd_write per piece: what a guest writing a big result costs, per backing. */
#include "report.h"

#define PIECE 4096

int main(int argc, char **argv) {
    uint64_t count = iterations_arg(argc, argv);
    static uint8_t piece[PIECE];
    for (int i = 0; i < PIECE; i++) piece[i] = (uint8_t)i;
    __wasi_fd_t fd = 0;
    if (__wasi_path_open(3, 0, "out", __WASI_OFLAGS_CREAT | __WASI_OFLAGS_TRUNC,
                         __WASI_RIGHTS_FD_WRITE, 0, 0, &fd) != 0) abort();
    __wasi_ciovec_t iov = {piece, PIECE};
    uint64_t written = 0;
    uint64_t start = now_ns();
    for (uint64_t i = 0; i < count; i++) {
        __wasi_size_t n = 0;
        if (__wasi_fd_write(fd, &iov, 1, &n) != 0) abort();
        written += n;
    }
    uint64_t elapsed = now_ns() - start;
    if (__wasi_fd_close(fd) != 0) abort();
    report(count, elapsed, written);
    return 0;
}
