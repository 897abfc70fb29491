/* A guest for the limits and interruption tests, by argv[1]: "compute" spins for ever with no
 * system calls, "stdin" blocks reading stdin, "sleep" blocks in poll_oneoff on a clock,
 * "recurse" overflows the stack, "grow" grows memory until memory.grow fails, "random" asks
 * random_get for argv[2] bytes, "open" opens argv[2] until it cannot and says why, "accept"
 * blocks in sock_accept on fd 3, "recv" accepts one connection and blocks reading it, "clock"
 * computes for ever with a system call (clock_gettime) per round; anything else exits with 2. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <time.h>
#include <wasi/api.h>

static volatile uint64_t sink;

static uint64_t recurse(uint64_t depth) {
    volatile char frame[256];
    frame[0] = (char)depth;
    if (depth == UINT64_MAX) return 0;  /* never: the stack runs out first */
    return recurse(depth + 1) + frame[0];
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "compute";
    if (strcmp(mode, "compute") == 0) {
        puts("spinning");
        fflush(stdout);
        uint64_t state = 1;
        for (;;) { state ^= state << 13; state ^= state >> 7; state ^= state << 17; sink = state; }
    }
    if (strcmp(mode, "clock") == 0) {
        puts("computing");
        fflush(stdout);
        struct timespec now;
        for (uint64_t state = 1;; state ^= state << 13) {
            clock_gettime(CLOCK_MONOTONIC, &now);
            sink = state ^ (uint64_t)now.tv_nsec;
        }
    }
    if (strcmp(mode, "stdin") == 0) {
        char buf[16];
        puts("reading");
        fflush(stdout);
        return (int)read(0, buf, sizeof buf);
    }
    if (strcmp(mode, "sleep") == 0) {
        puts("sleeping");
        fflush(stdout);
        struct timespec ts = {1000, 0};
        return nanosleep(&ts, NULL);
    }
    if (strcmp(mode, "recurse") == 0) return (int)recurse(0);
    if (strcmp(mode, "grow") == 0) {  /* memory.grow a page at a time until it fails */
        while (__builtin_wasm_memory_grow(0, 1) != (size_t)-1) {}
        printf("memory.grow failed at %zu MiB\n", __builtin_wasm_memory_size(0) >> 4);
        return 3;
    }
    if (strcmp(mode, "random") == 0) {
        size_t size = strtoul(argv[2], NULL, 10);
        char *buf = malloc(size);
        return __wasi_random_get((uint8_t *)buf, size);
    }
    if (strcmp(mode, "open") == 0) {
        int count = 0;
        while (open(argv[2], O_RDONLY) >= 0) count++;
        printf("opened %d, then %s\n", count, errno == EMFILE ? "EMFILE" : strerror(errno));
        return 0;
    }
    if (strcmp(mode, "accept") == 0 || strcmp(mode, "recv") == 0) {
        puts("accepting");
        fflush(stdout);
        int connection = accept(3, NULL, NULL);
        if (connection < 0 || strcmp(mode, "accept") == 0) return 4;
        char buf[16];
        return (int)recv(connection, buf, sizeof buf, 0);
    }
    return 2;
}
