/* Smoke test: args, env and stdout through wasi-libc. */
#include "check.h"

int main(int argc, char **argv) {
    for (int i = 0; i < argc; i++) printf("arg %d: %s\n", i, argv[i]);
    const char *k = getenv("K");
    printf("K=%s\n", k ? k : "(unset)");
    return argc;
}
