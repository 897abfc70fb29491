/* Every write path against a read-only preopen (fd 3, holding "file" = "data", "sub/inner"
 * and "link" -> "file"), next to a writable one (fd 4, holding "w"). Descriptors beneath the
 * read-only preopen carry no right to change anything, and every change asked for there is
 * EROFS (what POSIX programs expect of a read-only tree); no trick on a descriptor obtained
 * there makes it write. Rights the guest drops itself stay ENOTCAPABLE. Prints PASS. */
#include <wasi/api.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "check.h"

#define RO 3
#define RW 4
#define E(name) __WASI_ERRNO_##name
#define ALL_RIGHTS ((__wasi_rights_t)((1ull << 30) - 1))
#define CHANGING (__WASI_RIGHTS_FD_WRITE | __WASI_RIGHTS_FD_ALLOCATE | \
    __WASI_RIGHTS_FD_FILESTAT_SET_SIZE | __WASI_RIGHTS_FD_FILESTAT_SET_TIMES | \
    __WASI_RIGHTS_PATH_CREATE_DIRECTORY | __WASI_RIGHTS_PATH_CREATE_FILE | \
    __WASI_RIGHTS_PATH_LINK_SOURCE | __WASI_RIGHTS_PATH_LINK_TARGET | \
    __WASI_RIGHTS_PATH_RENAME_SOURCE | __WASI_RIGHTS_PATH_RENAME_TARGET | \
    __WASI_RIGHTS_PATH_FILESTAT_SET_SIZE | __WASI_RIGHTS_PATH_FILESTAT_SET_TIMES | \
    __WASI_RIGHTS_PATH_SYMLINK | __WASI_RIGHTS_PATH_REMOVE_DIRECTORY | \
    __WASI_RIGHTS_PATH_UNLINK_FILE)

static __wasi_errno_t try_open(__wasi_fd_t dir, const char *path, __wasi_oflags_t oflags,
                               __wasi_rights_t base, __wasi_fd_t *out) {
    *out = 0;
    return __wasi_path_open(dir, 0, path, oflags, base, ALL_RIGHTS, 0, out);
}

static void no_changing_rights(__wasi_fd_t fd) {
    __wasi_fdstat_t st;
    CHECK_EQ(__wasi_fd_fdstat_get(fd, &st), 0);
    CHECK_EQ(st.fs_rights_base & CHANGING, 0);
}

static void cannot_write(__wasi_fd_t fd) {
    __wasi_ciovec_t iov = {(const uint8_t *)"evil", 4};
    __wasi_size_t n = 0;
    CHECK_EQ(__wasi_fd_write(fd, &iov, 1, &n), E(BADF));
    CHECK_EQ(__wasi_fd_pwrite(fd, &iov, 1, 0, &n), E(BADF));
}

int main(void) {
    __wasi_fd_t fd = 0;
    __wasi_filestat_t st;
    no_changing_rights(RO);

    /* What a C program sees: fopen for writing fails with EROFS, as perror says. */
    errno = 0;
    CHECK(fopen("/ro/file", "w") == NULL);
    CHECK_EQ(errno, EROFS);
    CHECK(strcmp(strerror(errno), "Read-only file system") == 0);
    CHECK(fopen("/ro/new", "a") == NULL && errno == EROFS);

    /* A right the guest dropped itself, on the writable directory, is ENOTCAPABLE. */
    __wasi_fd_t narrowed = 0;
    CHECK_EQ(__wasi_path_open(RW, 0, ".", __WASI_OFLAGS_DIRECTORY, __WASI_RIGHTS_PATH_OPEN, 0, 0,
                              &narrowed), 0);
    CHECK_EQ(__wasi_path_create_directory(narrowed, "dir"), E(NOTCAPABLE));
    CHECK_EQ(__wasi_fd_close(narrowed), 0);

    /* Opening for writing, creating or truncating (O_TRUNC without write: CVE-2026-47261). */
    CHECK_EQ(try_open(RO, "file", 0, __WASI_RIGHTS_FD_WRITE, &fd), E(ROFS));
    CHECK_EQ(try_open(RO, "file", 0, __WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_ALLOCATE, &fd),
             E(ROFS));
    CHECK_EQ(try_open(RO, "file", __WASI_OFLAGS_TRUNC, __WASI_RIGHTS_FD_READ, &fd),
             E(ROFS));
    CHECK_EQ(try_open(RO, "file", __WASI_OFLAGS_TRUNC, 0, &fd), E(ROFS));
    CHECK_EQ(try_open(RO, "new", __WASI_OFLAGS_CREAT, __WASI_RIGHTS_FD_READ, &fd), E(ROFS));
    CHECK_EQ(try_open(RO, "sub/new", __WASI_OFLAGS_CREAT | __WASI_OFLAGS_EXCL, 0, &fd),
             E(ROFS));

    /* Tree changes. */
    CHECK_EQ(__wasi_path_create_directory(RO, "dir"), E(ROFS));
    CHECK_EQ(__wasi_path_unlink_file(RO, "file"), E(ROFS));
    CHECK_EQ(__wasi_path_unlink_file(RO, "link"), E(ROFS));
    CHECK_EQ(__wasi_path_remove_directory(RO, "sub"), E(ROFS));
    CHECK_EQ(__wasi_path_symlink("file", RO, "newlink"), E(ROFS));
    CHECK_EQ(__wasi_path_filestat_set_times(RO, 0, "file", 1, 1,
                                            __WASI_FSTFLAGS_ATIM | __WASI_FSTFLAGS_MTIM),
             E(ROFS));
    CHECK_EQ(__wasi_path_rename(RO, "file", RO, "renamed"), E(ROFS));
    CHECK_EQ(__wasi_path_rename(RO, "file", RW, "stolen"), E(ROFS));
    CHECK_EQ(__wasi_path_rename(RW, "w", RO, "planted"), E(ROFS));
    CHECK_EQ(__wasi_path_rename(RW, "w", RO, "file"), E(ROFS));
    CHECK_EQ(__wasi_path_link(RO, 0, "file", RW, "hardlink"), E(ROFS));
    CHECK_EQ(__wasi_path_link(RW, 0, "w", RO, "hardlink"), E(ROFS));

    /* A file opened for reading: no changing rights, and no trick gives it any. */
    CHECK_EQ(try_open(RO, "file", 0, ALL_RIGHTS & ~CHANGING, &fd), 0);
    no_changing_rights(fd);
    cannot_write(fd);
    CHECK_EQ(__wasi_fd_filestat_set_size(fd, 0), E(ROFS));
    CHECK_EQ(__wasi_fd_allocate(fd, 0, 100), E(ROFS));
    CHECK_EQ(__wasi_fd_filestat_set_times(fd, 1, 1, __WASI_FSTFLAGS_ATIM), E(ROFS));
    CHECK_EQ(__wasi_fd_fdstat_set_rights(fd, ALL_RIGHTS, 0), E(NOTCAPABLE));
    CHECK_EQ(__wasi_fd_fdstat_set_flags(fd, __WASI_FDFLAGS_APPEND), 0);
    cannot_write(fd);
    CHECK_EQ(__wasi_fd_renumber(fd, 0), 0);  /* onto stdin, whose host fd could write */
    cannot_write(0);
    uint8_t buf[16];
    __wasi_iovec_t riov = {buf, sizeof buf};
    __wasi_size_t n = 0;
    CHECK_EQ(__wasi_fd_read(0, &riov, 1, &n), 0);
    CHECK_EQ(n, 4);
    CHECK(memcmp(buf, "data", 4) == 0);

    /* Directories beneath, and "." itself, are read-only too. */
    CHECK_EQ(__wasi_path_open(RO, 0, "sub", __WASI_OFLAGS_DIRECTORY, ALL_RIGHTS & ~CHANGING,
                              ALL_RIGHTS, 0, &fd), 0);
    no_changing_rights(fd);
    CHECK_EQ(__wasi_path_create_directory(fd, "dir"), E(ROFS));
    CHECK_EQ(__wasi_path_unlink_file(fd, "inner"), E(ROFS));
    CHECK_EQ(try_open(fd, "inner", 0, __WASI_RIGHTS_FD_WRITE, &fd), E(ROFS));
    __wasi_fd_t dot = 0;
    CHECK_EQ(__wasi_path_open(RO, 0, ".", __WASI_OFLAGS_DIRECTORY, ALL_RIGHTS & ~CHANGING,
                              ALL_RIGHTS, 0, &dot), 0);
    no_changing_rights(dot);
    CHECK_EQ(__wasi_fd_renumber(dot, RW), 0);  /* the writable preopen's number, now read-only */
    CHECK_EQ(__wasi_path_create_directory(RW, "dir"), E(ROFS));

    /* Reading still works. */
    CHECK_EQ(__wasi_path_filestat_get(RO, 0, "file", &st), 0);
    CHECK_EQ(st.size, 4);
    char target[8];
    __wasi_size_t used = 0;
    CHECK_EQ(__wasi_path_readlink(RO, "link", (uint8_t *)target, sizeof target, &used), 0);
    CHECK_EQ(used, 4);
    CHECK_EQ(__wasi_fd_readdir(RO, buf, sizeof buf, 0, &used), 0);
    CHECK_EQ(used, sizeof buf);
    PASS();
}
