/* One module for every kind of batch job (tests/test_batch.py, bench/batch.py), chosen by
 * argv[1]: "compute N" prints a checksum of N rounds, "upper" copies stdin to stdout in upper
 * case (and says how much it read on stderr), "files" copies /in/in.txt to /out/out.txt and
 * /out/sub/count.txt, "trap" traps, "spin" loops until a limit stops it, "exit" exits with 3. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int compute(long rounds) {
    unsigned long sum = 0;
    for (long round = 0; round < rounds; round++) sum = sum * 6364136223846793005UL + (unsigned long)round;
    printf("%lu\n", sum);
    return 0;
}

static int upper(void) {
    char buffer[4096];
    size_t total = 0, got;
    while ((got = fread(buffer, 1, sizeof buffer, stdin)) > 0) {
        for (size_t i = 0; i < got; i++) buffer[i] = (char)toupper((unsigned char)buffer[i]);
        fwrite(buffer, 1, got, stdout);
        total += got;
    }
    fprintf(stderr, "read %zu bytes\n", total);
    return 0;
}

static int files(void) {
    FILE *in = fopen("/in/in.txt", "r");
    if (in == NULL) return 10;
    char data[4096];
    size_t got = fread(data, 1, sizeof data, in);
    fclose(in);
    FILE *out = fopen("/out/out.txt", "w");
    if (out == NULL) return 11;
    fwrite(data, 1, got, out);
    fclose(out);
    if (mkdir("/out/sub", 0755) != 0) return 12;
    FILE *count = fopen("/out/sub/count.txt", "w");
    if (count == NULL) return 13;
    fprintf(count, "%zu\n", got);
    fclose(count);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    if (strcmp(argv[1], "compute") == 0 && argc == 3) return compute(atol(argv[2]));
    if (strcmp(argv[1], "upper") == 0) return upper();
    if (strcmp(argv[1], "files") == 0) return files();
    if (strcmp(argv[1], "trap") == 0) __builtin_trap();
    if (strcmp(argv[1], "spin") == 0) {
        volatile unsigned long spin = 0;
        for (;;) spin++;
    }
    if (strcmp(argv[1], "exit") == 0) exit(3);
    return 2;
}
