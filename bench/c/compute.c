/* Integer work with no system calls inside the timed loop: measures generated code only. */
#include "report.h"

int main(int argc, char **argv) {
    uint64_t count = iterations_arg(argc, argv);
    uint64_t state = 0x9E3779B97F4A7C15ull;
    uint32_t table[256] = {0};
    uint64_t start = now_ns();
    for (uint64_t i = 0; i < count; i++) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        table[state & 255] += (uint32_t)(state >> 32);
    }
    uint64_t elapsed = now_ns() - start;
    uint64_t checksum = state;
    for (int i = 0; i < 256; i++) checksum = checksum * 31 + table[i];
    report(count, elapsed, checksum);
    return 0;
}
