/* A hostile guest: every way out of the preopen (fd 3) it can think of, each of which must
 * be refused with the expected errno. The host planted, inside the preopen:
 *   file, sub/, sub/back -> "..", inside -> "sub", up -> "..", etc -> "/etc",
 *   secretlink -> "../secret.txt", deep -> "sub/../../secret.txt", loop1 <-> loop2,
 *   self -> "self"
 * and put ../secret.txt next to the preopen, which must never be read, created or changed. */
#include <wasi/api.h>
#include <stdint.h>
#include "check.h"

#define ROOT 3
#define ESCAPE __WASI_ERRNO_NOTCAPABLE  /* what leaving the sandbox is, as in Node */
#define FOLLOW __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW
#define RIGHTS ((__wasi_rights_t)((1ull << 30) - 1))

__attribute__((import_module("wasi_snapshot_preview1"), import_name("path_open")))
uint16_t raw_path_open(uint32_t fd, uint32_t dirflags, const char *path, uint32_t path_len,
                       uint32_t oflags, uint64_t base, uint64_t inheriting, uint32_t fdflags,
                       __wasi_fd_t *opened);

static __wasi_errno_t try_open(__wasi_fd_t dir, uint32_t lookup, const char *path,
                               __wasi_oflags_t oflags) {
    __wasi_fd_t fd = 0;
    __wasi_errno_t err = __wasi_path_open(dir, lookup, path, oflags, RIGHTS, RIGHTS, 0, &fd);
    if (err == 0) {
        /* Whatever opened must be inside: read it and show it, so the host can check. */
        char buf[64] = {0};
        __wasi_iovec_t iov = {(uint8_t *)buf, sizeof buf - 1};
        __wasi_size_t n = 0;
        if (__wasi_fd_read(fd, &iov, 1, &n) == 0) printf("opened %s: %s\n", path, buf);
        CHECK_EQ(__wasi_fd_close(fd), 0);
    }
    return err;
}

static __wasi_errno_t stat_errno(uint32_t lookup, const char *path) {
    __wasi_filestat_t st;
    return __wasi_path_filestat_get(ROOT, lookup, path, &st);
}

int main(void) {
    /* ".." and absolute paths, directly and transiently. */
    const char *escapes[] = {
        "..", "../", "../secret.txt", "./../secret.txt", "sub/../../secret.txt",
        "sub/../sub/../..", "sub/../../root/file", "sub/back/../secret.txt", "/",
        "/etc/passwd", "//etc/passwd", "up/secret.txt", "up", "etc/passwd", "etc",
        "secretlink", "deep", "inside/../../secret.txt", "sub/back/sub/back/../file",
    };
    for (unsigned i = 0; i < sizeof escapes / sizeof *escapes; i++) {
        const char *path = escapes[i];
        if (try_open(ROOT, FOLLOW, path, 0) != ESCAPE) {
            printf("FAIL open %s\n", path);
            return 1;
        }
        if (try_open(ROOT, FOLLOW, path, __WASI_OFLAGS_CREAT) != ESCAPE ||
            stat_errno(FOLLOW, path) != ESCAPE) {
            printf("FAIL create/stat %s\n", path);
            return 1;
        }
    }
    /* The same paths stay inside when they do not climb. */
    CHECK_EQ(try_open(ROOT, FOLLOW, "sub/back/file", 0), 0);
    CHECK_EQ(try_open(ROOT, FOLLOW, "inside/../file", 0), 0);
    CHECK_EQ(try_open(ROOT, FOLLOW, "sub/../file", 0), 0);
    /* Links not followed at the end are only links: ELOOP to open, fine to stat. */
    CHECK_EQ(try_open(ROOT, 0, "secretlink", 0), __WASI_ERRNO_LOOP);
    CHECK_EQ(try_open(ROOT, 0, "etc", __WASI_OFLAGS_DIRECTORY), __WASI_ERRNO_LOOP);
    CHECK_EQ(stat_errno(0, "up"), 0);
    CHECK_EQ(stat_errno(0, "secretlink"), 0);
    /* Loops. */
    CHECK_EQ(try_open(ROOT, FOLLOW, "loop1", 0), __WASI_ERRNO_LOOP);
    CHECK_EQ(try_open(ROOT, FOLLOW, "self/x", 0), __WASI_ERRNO_LOOP);
    CHECK_EQ(stat_errno(FOLLOW, "loop2"), __WASI_ERRNO_LOOP);
    /* NUL bytes cannot cut a path short. */
    CHECK_EQ(raw_path_open(ROOT, 0, "file\0../../secret.txt", 21, 0, RIGHTS, 0, 0, 0),
             __WASI_ERRNO_INVAL);
    /* A directory descriptor opened below the root cannot climb above itself either. */
    __wasi_fd_t sub = 0;
    CHECK_EQ(__wasi_path_open(ROOT, 0, "sub", __WASI_OFLAGS_DIRECTORY,
                              RIGHTS & ~__WASI_RIGHTS_FD_WRITE, RIGHTS, 0, &sub), 0);
    CHECK_EQ(try_open(sub, FOLLOW, "../file", 0), ESCAPE);
    CHECK_EQ(try_open(sub, FOLLOW, "back/file", 0), ESCAPE);
    /* Changes outside: create, mkdir, symlink into, rename, link, unlink, set times. */
    CHECK_EQ(__wasi_path_create_directory(ROOT, "../newdir"), ESCAPE);
    CHECK_EQ(__wasi_path_create_directory(ROOT, "up/newdir"), ESCAPE);
    CHECK_EQ(__wasi_path_symlink("x", ROOT, "../newlink"), ESCAPE);
    CHECK_EQ(__wasi_path_rename(ROOT, "file", ROOT, "../moved"), ESCAPE);
    CHECK_EQ(__wasi_path_rename(ROOT, "../secret.txt", ROOT, "stolen"), ESCAPE);
    CHECK_EQ(__wasi_path_rename(ROOT, "up/secret.txt", ROOT, "stolen"), ESCAPE);
    CHECK_EQ(__wasi_path_link(ROOT, 0, "file", ROOT, "../hardlink"), ESCAPE);
    CHECK_EQ(__wasi_path_link(ROOT, 0, "../secret.txt", ROOT, "hardlink"), ESCAPE);
    CHECK_EQ(__wasi_path_link(ROOT, FOLLOW, "secretlink", ROOT, "hardlink"), __WASI_ERRNO_INVAL);
    CHECK_EQ(__wasi_path_link(ROOT, FOLLOW, "deep", ROOT, "hardlink"), __WASI_ERRNO_INVAL);
    CHECK_EQ(__wasi_path_unlink_file(ROOT, "../secret.txt"), ESCAPE);
    CHECK_EQ(__wasi_path_unlink_file(ROOT, "up/secret.txt"), ESCAPE);
    CHECK_EQ(__wasi_path_remove_directory(ROOT, ".."), ESCAPE);
    CHECK_EQ(__wasi_path_filestat_set_times(ROOT, FOLLOW, "secretlink", 1, 1,
                                            __WASI_FSTFLAGS_ATIM | __WASI_FSTFLAGS_MTIM), ESCAPE);
    CHECK_EQ(__wasi_path_filestat_set_times(ROOT, 0, "up/secret.txt", 1, 1,
                                            __WASI_FSTFLAGS_MTIM), ESCAPE);
    /* Links the guest makes itself: stored as given, refused when followed out. */
    CHECK_EQ(__wasi_path_symlink("/etc/passwd", ROOT, "abs"), __WASI_ERRNO_PERM);
    CHECK_EQ(__wasi_path_symlink("../secret.txt", ROOT, "mine"), 0);
    CHECK_EQ(__wasi_path_symlink("sub/../..", ROOT, "mine_dir"), 0);
    CHECK_EQ(__wasi_path_symlink("../../../../../../../etc", ROOT, "sub/far"), 0);
    CHECK_EQ(try_open(ROOT, FOLLOW, "mine", 0), ESCAPE);
    CHECK_EQ(try_open(ROOT, FOLLOW, "mine_dir/secret.txt", 0), ESCAPE);
    CHECK_EQ(try_open(ROOT, FOLLOW, "sub/far/passwd", 0), ESCAPE);
    CHECK_EQ(__wasi_path_link(ROOT, FOLLOW, "mine", ROOT, "hardlink"), __WASI_ERRNO_INVAL);
    /* A link renamed into a subdirectory points elsewhere, still checked on use. */
    CHECK_EQ(__wasi_path_symlink("..", ROOT, "parent"), 0);
    CHECK_EQ(try_open(ROOT, FOLLOW, "parent/secret.txt", 0), ESCAPE);
    CHECK_EQ(__wasi_path_rename(ROOT, "parent", ROOT, "sub/parent"), 0);
    CHECK_EQ(try_open(ROOT, FOLLOW, "sub/parent/file", 0), 0);  /* now ".." is the root */
    CHECK_EQ(try_open(ROOT, FOLLOW, "sub/parent/../secret.txt", 0), ESCAPE);
    /* Reading a link's text is not an escape; unlinking a link leaves its target alone. */
    char target[32];
    __wasi_size_t used = 0;
    CHECK_EQ(__wasi_path_readlink(ROOT, "secretlink", (uint8_t *)target, sizeof target, &used),
             0);
    CHECK_EQ(used, 13);
    CHECK_EQ(__wasi_path_unlink_file(ROOT, "secretlink"), 0);
    CHECK_EQ(__wasi_path_unlink_file(ROOT, "mine"), 0);
    PASS();
}
