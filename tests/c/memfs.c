/* File work through wasi-libc's paths, for trees that live in memory, on the host or in the
 * embedder's own WasiFile:
 *   copy SRC DST       copy a file (stdio), print PASS
 *   rename SRC DST     print the errno of rename(2) (0 when it worked)
 *   link SRC DST       print the errno of link(2)
 *   write PATH         print the errno of opening PATH for writing
 *   create PATH        print the errno of creating PATH exclusively (O_CREAT | O_EXCL) */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include "check.h"

int main(int argc, char **argv) {
    CHECK(argc >= 3);
    const char *name = argv[1];
    if (!strcmp(name, "copy") && argc == 4) {
        FILE *in = fopen(argv[2], "rb");
        CHECK(in != NULL);
        FILE *out = fopen(argv[3], "wb");
        CHECK(out != NULL);
        char buf[1000];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, in)) > 0) CHECK(fwrite(buf, 1, n, out) == n);
        CHECK(!ferror(in));
        CHECK(fclose(in) == 0 && fclose(out) == 0);
        PASS();
    }
    if (!strcmp(name, "rename") && argc == 4) {
        printf("%d\n", rename(argv[2], argv[3]) ? errno : 0);
        return 0;
    }
    if (!strcmp(name, "link") && argc == 4) {
        printf("%d\n", link(argv[2], argv[3]) ? errno : 0);
        return 0;
    }
    if (!strcmp(name, "write") && argc == 3) {
        int fd = open(argv[2], O_WRONLY);
        printf("%d\n", fd < 0 ? errno : 0);
        return 0;
    }
    if (!strcmp(name, "create") && argc == 3) {
        int fd = open(argv[2], O_WRONLY | O_CREAT | O_EXCL, 0644);
        printf("%d\n", fd < 0 ? errno : 0);
        return 0;
    }
    return 2;
}
