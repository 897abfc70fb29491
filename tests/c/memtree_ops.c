/* A guest that does what its arguments say, one operation after another, and prints one line
 * for each: the errno it got (0 when it worked) or what it read. For the tests of what a
 * guest can leave in a memory tree (links for a later save, holes, a full quota):
 *   symlink TARGET PATH     unlink PATH     rmdir PATH     mkdir PATH
 *   put PATH TEXT           create or truncate PATH, write TEXT
 *   pwrite PATH OFFSET TEXT write TEXT at OFFSET (PATH created if missing)
 *   pread PATH OFFSET LEN   print "COUNT HEX" of what LEN bytes at OFFSET hold
 *   truncate PATH SIZE      ftruncate (fd_filestat_set_size)
 *   allocate PATH OFF LEN   posix_fallocate (fd_allocate)
 *   fill PATH COUNT         write COUNT bytes in 64 KiB pieces: print "WRITTEN ERRNO" */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "check.h"

static int open_rw(const char *path) {
    return open(path, O_RDWR | O_CREAT, 0644);
}

static int done(int failed) {
    return failed ? errno : 0;
}

static unsigned long long number(const char *text) {
    return strtoull(text, NULL, 0);
}

static char piece[65536];

int main(int argc, char **argv) {
    int i = 1;
    while (i < argc) {
        const char *op = argv[i];
        int left = argc - i - 1;
        const char *a = left > 0 ? argv[i + 1] : "", *b = left > 1 ? argv[i + 2] : "";
        const char *c = left > 2 ? argv[i + 3] : "";
        int used;
        if (!strcmp(op, "symlink") && left >= 2) {
            printf("%d\n", done(symlink(a, b)));
            used = 2;
        } else if (!strcmp(op, "unlink") && left >= 1) {
            printf("%d\n", done(unlink(a)));
            used = 1;
        } else if (!strcmp(op, "rmdir") && left >= 1) {
            printf("%d\n", done(rmdir(a)));
            used = 1;
        } else if (!strcmp(op, "mkdir") && left >= 1) {
            printf("%d\n", done(mkdir(a, 0755)));
            used = 1;
        } else if (!strcmp(op, "put") && left >= 2) {
            int fd = open(a, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            int failed = fd < 0 || write(fd, b, strlen(b)) != (ssize_t)strlen(b);
            printf("%d\n", done(failed));
            if (fd >= 0) close(fd);
            used = 2;
        } else if (!strcmp(op, "pwrite") && left >= 3) {
            int fd = open_rw(a);
            int failed = fd < 0 || pwrite(fd, c, strlen(c), (off_t)number(b)) != (ssize_t)strlen(c);
            printf("%d\n", done(failed));
            if (fd >= 0) close(fd);
            used = 3;
        } else if (!strcmp(op, "pread") && left >= 3) {
            unsigned long long length = number(c);
            CHECK(length <= sizeof piece);
            int fd = open(a, O_RDONLY);
            ssize_t count = fd < 0 ? -1 : pread(fd, piece, length, (off_t)number(b));
            if (count < 0) {
                printf("%d\n", errno);
            } else {
                printf("%zd ", count);
                for (ssize_t k = 0; k < count; k++) printf("%02x", (unsigned char)piece[k]);
                printf("\n");
            }
            if (fd >= 0) close(fd);
            used = 3;
        } else if (!strcmp(op, "truncate") && left >= 2) {
            int fd = open_rw(a);
            printf("%d\n", done(fd < 0 || ftruncate(fd, (off_t)number(b))));
            if (fd >= 0) close(fd);
            used = 2;
        } else if (!strcmp(op, "allocate") && left >= 3) {
            int fd = open_rw(a);
            printf("%d\n", fd < 0 ? errno : posix_fallocate(fd, (off_t)number(b), (off_t)number(c)));
            if (fd >= 0) close(fd);
            used = 3;
        } else if (!strcmp(op, "fill") && left >= 2) {
            unsigned long long count = number(b), written = 0;
            int fd = open(a, O_WRONLY | O_CREAT | O_TRUNC, 0644), error = fd < 0 ? errno : 0;
            memset(piece, 'x', sizeof piece);
            while (!error && written < count) {
                size_t want = count - written < sizeof piece ? count - written : sizeof piece;
                ssize_t n = write(fd, piece, want);
                if (n < 0) error = errno;
                else written += (unsigned long long)n;
            }
            printf("%llu %d\n", written, error);
            if (fd >= 0) close(fd);
            used = 2;
        } else {
            printf("bad operation %s\n", op);
            return 2;
        }
        i += 1 + used;
    }
    return 0;
}
