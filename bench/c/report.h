/* What every benchmark guest shares: the monotonic clock read through the raw WASI call, and
 * one result line on stderr ("<iterations> <elapsed ns> <checksum>") that bench/run.py parses.
 * stdout is left to the workload itself (the hosts send it to /dev/null). */
#ifndef BENCH_REPORT_H
#define BENCH_REPORT_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <wasi/api.h>

static inline uint64_t now_ns(void) {
    __wasi_timestamp_t t = 0;
    if (__wasi_clock_time_get(__WASI_CLOCKID_MONOTONIC, 1, &t) != 0) abort();
    return t;
}

/* The iteration count comes from argv[1], so the harness can scale a workload to the machine. */
static inline uint64_t iterations_arg(int argc, char **argv) {
    if (argc < 2) abort();
    return strtoull(argv[1], NULL, 10);
}

static inline void report(uint64_t iterations, uint64_t elapsed_ns, uint64_t checksum) {
    fprintf(stderr, "%llu %llu %llu\n", (unsigned long long)iterations,
            (unsigned long long)elapsed_ns, (unsigned long long)checksum);
}

#endif
