/* Many monotonic clock reads through the raw clock_time_get: the loop is nothing but the call. */
#include "report.h"

int main(int argc, char **argv) {
    uint64_t count = iterations_arg(argc, argv);
    uint64_t in_order = 0; /* a checksum that is the same on every host: count, if monotonic */
    uint64_t start = now_ns();
    uint64_t last = start;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t t = now_ns();
        in_order += t >= last;
        last = t;
    }
    report(count, now_ns() - start, in_order);
    return 0;
}
