/* Many tiny writes to stdout through the raw fd_write, so no libc buffering merges them. */
#include "report.h"

int main(int argc, char **argv) {
    uint64_t count = iterations_arg(argc, argv);
    static const char line[] = "abc\n";
    __wasi_ciovec_t iov = {(const uint8_t *)line, sizeof line - 1};
    uint64_t written = 0;
    uint64_t start = now_ns();
    for (uint64_t i = 0; i < count; i++) {
        __wasi_size_t n = 0;
        if (__wasi_fd_write(1, &iov, 1, &n) != 0) abort();
        written += n;
    }
    report(count, now_ns() - start, written);
    return 0;
}
