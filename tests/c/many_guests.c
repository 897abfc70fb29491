/* One of many guests running at once: prints, many times, its argument and what the file in
 * its own preopen says, so that output mixed between guests (or a preopen seen by the wrong
 * guest) shows. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    FILE *file = fopen("/sandbox/name.txt", "r");
    if (file == NULL) return 3;
    char name[64] = {0};
    if (fgets(name, sizeof name, file) == NULL) return 4;
    fclose(file);
    unsigned long spin = 0;
    for (int line = 0; line < 200; line++) {
        for (int step = 0; step < 20000; step++) spin = spin * 31 + (unsigned long)step;
        printf("%s %s %d\n", argv[1], name, line);
        fflush(stdout);
    }
    return spin == 1;
}
