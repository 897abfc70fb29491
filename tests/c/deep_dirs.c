/* A guest that nests directories as deep as it is told, one level at a time by descriptor
 * (mkdirat, then openat of the new one: each call short, however deep), and writes "bottom"
 * into a file "end" at the bottom:  deep_dirs DIR DEPTH.  A directory already there is gone
 * into. Prints the depth reached and 0, or the errno that stopped it. */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "check.h"

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    int fd = open(argv[1], O_RDONLY | O_DIRECTORY);
    long depth = strtol(argv[2], NULL, 10), level = 0;
    for (; fd >= 0 && level < depth; level++) {
        if (mkdirat(fd, "d", 0755) && errno != EEXIST) break;
        int next = openat(fd, "d", O_RDONLY | O_DIRECTORY);
        close(fd);
        fd = next;
    }
    int end = fd < 0 ? -1 : openat(fd, "end", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (end < 0 || write(end, "bottom", 6) != 6) {
        printf("%ld %d\n", level, errno);
        return 1;
    }
    printf("%ld 0\n", level);
    return 0;
}
