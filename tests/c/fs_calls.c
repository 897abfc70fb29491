/* The filesystem calls through the raw WASI imports: exact errnos, layouts and edge cases.
 * The preopened directory is fd 3; argv[1] names the case, the rest are its arguments.
 * Each case prints PASS (and whatever the Python side compares) or the failed check. */
#include <wasi/api.h>
#include <stdint.h>
#include <inttypes.h>
#include "check.h"

#define ROOT 3
#define WILD ((void *)0xFFFFFFF0u)

/* The generated wrappers take C strings; these take (pointer, length), so a path can hold
 * a NUL byte or point outside memory. */
__attribute__((import_module("wasi_snapshot_preview1"), import_name("path_open")))
uint16_t raw_path_open(uint32_t fd, uint32_t dirflags, const char *path, uint32_t path_len,
                       uint32_t oflags, uint64_t base, uint64_t inheriting, uint32_t fdflags,
                       __wasi_fd_t *opened);
__attribute__((import_module("wasi_snapshot_preview1"), import_name("path_filestat_get")))
uint16_t raw_path_filestat_get(uint32_t fd, uint32_t flags, const char *path, uint32_t path_len,
                               __wasi_filestat_t *out);
__attribute__((import_module("wasi_snapshot_preview1"), import_name("path_symlink")))
uint16_t raw_path_symlink(const char *old_path, uint32_t old_len, uint32_t fd,
                          const char *new_path, uint32_t new_len);
__attribute__((import_module("wasi_snapshot_preview1"), import_name("fd_seek")))
uint16_t raw_fd_seek(uint32_t fd, int64_t offset, uint32_t whence, uint64_t *out);
__attribute__((import_module("wasi_snapshot_preview1"), import_name("fd_advise")))
uint16_t raw_fd_advise(uint32_t fd, uint64_t offset, uint64_t len, uint32_t advice);

#define ALL_RIGHTS ((__wasi_rights_t)((1ull << 30) - 1))
/* Everything but the write right, which would ask to open a directory for writing (EISDIR). */
#define DIR_RIGHTS (ALL_RIGHTS & ~__WASI_RIGHTS_FD_WRITE)
#define FILE_RW (__WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_WRITE | __WASI_RIGHTS_FD_SEEK | \
    __WASI_RIGHTS_FD_TELL | __WASI_RIGHTS_FD_FILESTAT_GET | __WASI_RIGHTS_FD_FILESTAT_SET_SIZE | \
    __WASI_RIGHTS_FD_FILESTAT_SET_TIMES | __WASI_RIGHTS_FD_FDSTAT_SET_FLAGS | \
    __WASI_RIGHTS_FD_ALLOCATE | __WASI_RIGHTS_FD_ADVISE | __WASI_RIGHTS_FD_SYNC | \
    __WASI_RIGHTS_FD_DATASYNC)

static __wasi_fd_t open_at(__wasi_fd_t dir, const char *path, __wasi_oflags_t oflags,
                           __wasi_rights_t rights, __wasi_fdflags_t fdflags) {
    __wasi_fd_t fd = 0;
    CHECK_EQ(__wasi_path_open(dir, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, path, oflags, rights,
                              rights, fdflags, &fd), 0);
    return fd;
}

static __wasi_errno_t open_errno(uint32_t lookup, const char *path, __wasi_oflags_t oflags) {
    __wasi_fd_t fd = 0;
    __wasi_errno_t err = __wasi_path_open(ROOT, lookup, path, oflags, ALL_RIGHTS, ALL_RIGHTS, 0,
                                          &fd);
    if (err == 0) CHECK_EQ(__wasi_fd_close(fd), 0);
    return err;
}

static void write_all(__wasi_fd_t fd, const char *text) {
    __wasi_ciovec_t iov = {(const uint8_t *)text, strlen(text)};
    __wasi_size_t n = 0;
    CHECK_EQ(__wasi_fd_write(fd, &iov, 1, &n), 0);
    CHECK_EQ(n, strlen(text));
}

static __wasi_filestat_t stat_path(const char *path, uint32_t lookup) {
    __wasi_filestat_t st;
    memset(&st, 0xAA, sizeof st);
    CHECK_EQ(__wasi_path_filestat_get(ROOT, lookup, path, &st), 0);
    return st;
}

/* readdir <dir> <bufsize>: list with the cookie protocol, printing "name ino type" lines.
 * A record cut by the end of the buffer is skipped and read again from the last whole
 * entry's d_next; a buffer too small for even one entry is doubled. */
static int readdir_case(const char *dir, size_t size) {
    __wasi_fd_t fd = open_at(ROOT, dir, __WASI_OFLAGS_DIRECTORY, __WASI_RIGHTS_FD_READDIR, 0);
    uint8_t *buf = malloc(size);
    __wasi_dircookie_t cookie = 0;
    for (;;) {
        __wasi_size_t used = 0;
        memset(buf, 0, size);
        CHECK_EQ(__wasi_fd_readdir(fd, buf, size, cookie, &used), 0);
        CHECK(used <= size);
        size_t at = 0;
        int whole = 0;
        while (at + sizeof(__wasi_dirent_t) <= used) {
            __wasi_dirent_t d;
            memcpy(&d, buf + at, sizeof d);
            if (at + sizeof d + d.d_namlen > used) break;
            printf("%.*s %" PRIu64 " %u\n", (int)d.d_namlen, (char *)buf + at + sizeof d,
                   d.d_ino, d.d_type);
            cookie = d.d_next;
            at += sizeof d + d.d_namlen;
            whole++;
        }
        if (used < size) break;  /* the end of the directory */
        if (whole == 0) {
            size *= 2;
            buf = realloc(buf, size);
        }
    }
    /* A cookie past the end reads nothing. */
    __wasi_size_t used = 1;
    CHECK_EQ(__wasi_fd_readdir(fd, buf, size, cookie + 1000000, &used), 0);
    CHECK_EQ(used, 0);
    free(buf);
    CHECK_EQ(__wasi_fd_close(fd), 0);
    PASS();
}

/* readdir_cut: a buffer ending inside an entry is filled to the last byte with its start. */
static int readdir_cut_case(void) {
    uint8_t whole[4096], cut[30];
    __wasi_size_t used_whole = 0, used_cut = 0;
    CHECK_EQ(__wasi_fd_readdir(ROOT, whole, sizeof whole, 0, &used_whole), 0);
    CHECK(used_whole > sizeof cut);
    CHECK_EQ(__wasi_fd_readdir(ROOT, cut, sizeof cut, 0, &used_cut), 0);
    CHECK_EQ(used_cut, sizeof cut);
    CHECK(memcmp(whole, cut, sizeof cut) == 0);
    /* From the cookie of the first entry on, the listing continues with the second. */
    __wasi_dirent_t first;
    memcpy(&first, whole, sizeof first);
    CHECK_EQ(__wasi_fd_readdir(ROOT, cut, sizeof cut, first.d_next, &used_cut), 0);
    CHECK(memcmp(whole + sizeof first + first.d_namlen, cut, sizeof cut) == 0);
    CHECK_EQ(__wasi_fd_readdir(ROOT, WILD, 100, 0, &used_cut), __WASI_ERRNO_FAULT);
    CHECK_EQ(__wasi_fd_readdir(ROOT, cut, sizeof cut, 0, WILD), __WASI_ERRNO_FAULT);
    __wasi_fd_t file = open_at(ROOT, "file", 0, FILE_RW, 0);
    CHECK_EQ(__wasi_fd_readdir(file, cut, sizeof cut, 0, &used_cut), __WASI_ERRNO_NOTDIR);
    PASS();
}

/* times <path> <atim> <mtim>: set both through the path, one at a time through an fd, and
 * check every nanosecond comes back; then the flag rules. */
static int times_case(const char *path, const char *a, const char *m) {
    __wasi_timestamp_t atim = strtoull(a, NULL, 10), mtim = strtoull(m, NULL, 10);
    CHECK_EQ(__wasi_path_filestat_set_times(ROOT, 0, path, atim, mtim,
                                            __WASI_FSTFLAGS_ATIM | __WASI_FSTFLAGS_MTIM), 0);
    __wasi_filestat_t st = stat_path(path, 0);
    CHECK_EQ(st.atim, atim);
    CHECK_EQ(st.mtim, mtim);
    __wasi_fd_t fd = open_at(ROOT, path, 0, FILE_RW, 0);
    CHECK_EQ(__wasi_fd_filestat_set_times(fd, 0, mtim + 1, __WASI_FSTFLAGS_MTIM), 0);
    CHECK_EQ(__wasi_fd_filestat_get(fd, &st), 0);
    CHECK_EQ(st.atim, atim);  /* untouched */
    CHECK_EQ(st.mtim, mtim + 1);
    CHECK_EQ(__wasi_fd_filestat_set_times(fd, atim + 1, 0, __WASI_FSTFLAGS_ATIM), 0);
    CHECK_EQ(__wasi_fd_filestat_get(fd, &st), 0);
    CHECK_EQ(st.atim, atim + 1);
    CHECK_EQ(st.mtim, mtim + 1);
    __wasi_timestamp_t before = 0;
    CHECK_EQ(__wasi_clock_time_get(__WASI_CLOCKID_REALTIME, 1, &before), 0);
    CHECK_EQ(__wasi_fd_filestat_set_times(fd, 0, 0, __WASI_FSTFLAGS_MTIM_NOW), 0);
    CHECK_EQ(__wasi_fd_filestat_get(fd, &st), 0);
    CHECK(st.mtim >= before - 1000000000ull && st.mtim < before + 60000000000ull);
    CHECK_EQ(st.atim, atim + 1);
    /* Given and NOW together, or unknown bits: EINVAL, through both calls. */
    uint16_t bad[] = {__WASI_FSTFLAGS_ATIM | __WASI_FSTFLAGS_ATIM_NOW,
                      __WASI_FSTFLAGS_MTIM | __WASI_FSTFLAGS_MTIM_NOW, 1 << 4, 0x8000};
    for (unsigned i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK_EQ(__wasi_fd_filestat_set_times(fd, 1, 1, bad[i]), __WASI_ERRNO_INVAL);
        CHECK_EQ(__wasi_path_filestat_set_times(ROOT, 0, path, 1, 1, bad[i]),
                 __WASI_ERRNO_INVAL);
    }
    CHECK_EQ(__wasi_path_filestat_set_times(ROOT, 0, "missing", 1, 1, __WASI_FSTFLAGS_ATIM),
             __WASI_ERRNO_NOENT);
    /* Without the right, ENOTCAPABLE. */
    CHECK_EQ(__wasi_fd_fdstat_set_rights(fd, __WASI_RIGHTS_FD_READ, 0), 0);
    CHECK_EQ(__wasi_fd_filestat_set_times(fd, 1, 1, __WASI_FSTFLAGS_ATIM),
             __WASI_ERRNO_NOTCAPABLE);
    /* Back to the values the host checks. */
    CHECK_EQ(__wasi_path_filestat_set_times(ROOT, 0, path, atim, mtim,
                                            __WASI_FSTFLAGS_ATIM | __WASI_FSTFLAGS_MTIM), 0);
    printf("%" PRIu64 " %" PRIu64 "\n", atim, mtim);
    PASS();
}

/* fdstat: flags as opened, rights inherited, shrunk, never grown, and enforced. */
static int fdstat_case(void) {
    __wasi_fd_t fd = open_at(ROOT, "log", __WASI_OFLAGS_CREAT, FILE_RW, __WASI_FDFLAGS_APPEND);
    __wasi_fdstat_t st;
    CHECK_EQ(__wasi_fd_fdstat_get(fd, &st), 0);
    CHECK_EQ(st.fs_filetype, __WASI_FILETYPE_REGULAR_FILE);
    CHECK_EQ(st.fs_flags, __WASI_FDFLAGS_APPEND);
    CHECK_EQ(st.fs_rights_base, FILE_RW);
    CHECK_EQ(st.fs_rights_inheriting, 0);  /* a file passes nothing on */
    write_all(fd, "one ");
    __wasi_filesize_t pos = 0;
    CHECK_EQ(__wasi_fd_seek(fd, 0, __WASI_WHENCE_SET, &pos), 0);
    write_all(fd, "two");  /* APPEND: still at the end */
    CHECK_EQ(__wasi_fd_tell(fd, &pos), 0);
    CHECK_EQ(pos, 7);
    /* Flags change: NONBLOCK on, APPEND off; sync modes cannot change; unknown bits EINVAL. */
    CHECK_EQ(__wasi_fd_fdstat_set_flags(fd, __WASI_FDFLAGS_NONBLOCK), 0);
    CHECK_EQ(__wasi_fd_fdstat_get(fd, &st), 0);
    CHECK_EQ(st.fs_flags, __WASI_FDFLAGS_NONBLOCK);
    CHECK_EQ(__wasi_fd_seek(fd, 0, __WASI_WHENCE_SET, &pos), 0);
    write_all(fd, "ONE");
    CHECK_EQ(__wasi_fd_fdstat_set_flags(fd, 1 << 5), __WASI_ERRNO_INVAL);
    CHECK_EQ(__wasi_fd_fdstat_set_flags(fd, __WASI_FDFLAGS_SYNC), __WASI_ERRNO_NOTSUP);
    /* Rights: more is ENOTCAPABLE, less sticks and is enforced. */
    CHECK_EQ(__wasi_fd_fdstat_set_rights(fd, FILE_RW | __WASI_RIGHTS_PATH_OPEN, 0),
             __WASI_ERRNO_NOTCAPABLE);
    CHECK_EQ(__wasi_fd_fdstat_set_rights(fd, FILE_RW, __WASI_RIGHTS_FD_READ),
             __WASI_ERRNO_NOTCAPABLE);
    CHECK_EQ(__wasi_fd_fdstat_set_rights(fd, __WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_SEEK, 0), 0);
    CHECK_EQ(__wasi_fd_fdstat_get(fd, &st), 0);
    CHECK_EQ(st.fs_rights_base, __WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_SEEK);
    __wasi_ciovec_t iov = {(const uint8_t *)"x", 1};
    __wasi_size_t n;
    CHECK_EQ(__wasi_fd_write(fd, &iov, 1, &n), __WASI_ERRNO_BADF);  /* not open for writing */
    CHECK_EQ(__wasi_fd_tell(fd, &pos), __WASI_ERRNO_NOTCAPABLE);
    CHECK_EQ(__wasi_fd_fdstat_set_rights(fd, FILE_RW, 0), __WASI_ERRNO_NOTCAPABLE);
    CHECK_EQ(__wasi_fd_close(fd), 0);
    CHECK_EQ(__wasi_fd_fdstat_get(fd, &st), __WASI_ERRNO_BADF);

    /* A directory whose inheriting rights lack FD_WRITE opens files without it. */
    CHECK_EQ(__wasi_path_create_directory(ROOT, "ro"), 0);
    __wasi_fd_t dir = 0;
    __wasi_rights_t dir_inheriting = ALL_RIGHTS & ~__WASI_RIGHTS_FD_WRITE;
    CHECK_EQ(__wasi_path_open(ROOT, 0, "ro", __WASI_OFLAGS_DIRECTORY, DIR_RIGHTS,
                              dir_inheriting, 0, &dir), 0);
    CHECK_EQ(__wasi_fd_fdstat_get(dir, &st), 0);
    CHECK_EQ(st.fs_filetype, __WASI_FILETYPE_DIRECTORY);
    CHECK((st.fs_rights_base & __WASI_RIGHTS_FD_READ) == 0);  /* not a directory right */
    CHECK(st.fs_rights_base & __WASI_RIGHTS_PATH_OPEN);
    CHECK_EQ(st.fs_rights_inheriting & __WASI_RIGHTS_FD_WRITE, 0);
    __wasi_fd_t child = 0;
    CHECK_EQ(__wasi_path_open(dir, 0, "new", __WASI_OFLAGS_CREAT, FILE_RW, 0, 0, &child), 0);
    CHECK_EQ(__wasi_fd_fdstat_get(child, &st), 0);
    CHECK_EQ(st.fs_rights_base, FILE_RW & ~__WASI_RIGHTS_FD_WRITE);
    CHECK_EQ(__wasi_fd_write(child, &iov, 1, &n), __WASI_ERRNO_BADF);
    /* A directory without PATH_CREATE_FILE cannot create. */
    CHECK_EQ(__wasi_fd_fdstat_get(dir, &st), 0);
    CHECK_EQ(__wasi_fd_fdstat_set_rights(dir, __WASI_RIGHTS_PATH_OPEN, st.fs_rights_inheriting),
             0);
    CHECK_EQ(__wasi_path_open(dir, 0, "other", __WASI_OFLAGS_CREAT, FILE_RW, 0, 0, &child),
             __WASI_ERRNO_NOTCAPABLE);
    CHECK_EQ(__wasi_path_create_directory(dir, "sub"), __WASI_ERRNO_NOTCAPABLE);
    PASS();
}

/* paths: NUL bytes, trailing slashes, O_DIRECTORY, symlinks without follow, bad flags. */
static int paths_case(void) {
    __wasi_fd_t fd = open_at(ROOT, "file", __WASI_OFLAGS_CREAT, FILE_RW, 0);
    CHECK_EQ(__wasi_fd_close(fd), 0);
    CHECK_EQ(__wasi_path_create_directory(ROOT, "dir"), 0);
    CHECK_EQ(__wasi_path_symlink("file", ROOT, "link"), 0);
    CHECK_EQ(__wasi_path_symlink("dir", ROOT, "dirlink"), 0);
    __wasi_fd_t out = 0;
    __wasi_filestat_t st;
    /* NUL inside or at the end: EINVAL, never the shorter path. */
    CHECK_EQ(raw_path_open(ROOT, 0, "file\0x", 6, 0, FILE_RW, 0, 0, &out), __WASI_ERRNO_INVAL);
    CHECK_EQ(raw_path_open(ROOT, 0, "file\0", 5, 0, FILE_RW, 0, 0, &out), __WASI_ERRNO_INVAL);
    CHECK_EQ(raw_path_filestat_get(ROOT, 0, "file\0", 5, &st), __WASI_ERRNO_INVAL);
    CHECK_EQ(raw_path_symlink("fi\0le", 5, ROOT, "nul", 3), __WASI_ERRNO_INVAL);
    CHECK_EQ(raw_path_open(ROOT, 0, "file", 4, 0, FILE_RW, 0, 0, &out), 0);
    CHECK_EQ(__wasi_fd_close(out), 0);
    /* Wild pointers and lengths. */
    CHECK_EQ(raw_path_open(ROOT, 0, WILD, 4, 0, FILE_RW, 0, 0, &out), __WASI_ERRNO_FAULT);
    CHECK_EQ(raw_path_open(ROOT, 0, "file", 0x7FFFFFFF, 0, FILE_RW, 0, 0, &out),
             __WASI_ERRNO_FAULT);
    CHECK_EQ(raw_path_open(ROOT, 0, "file", 4, 0, FILE_RW, 0, 0, WILD), __WASI_ERRNO_FAULT);
    CHECK_EQ(raw_path_filestat_get(ROOT, 0, "file", 4, WILD), __WASI_ERRNO_FAULT);
    /* Empty path. */
    CHECK_EQ(raw_path_open(ROOT, 0, "", 0, 0, FILE_RW, 0, 0, &out), __WASI_ERRNO_NOENT);
    /* Trailing slashes name directories only. */
    CHECK_EQ(open_errno(0, "file/", 0), __WASI_ERRNO_NOTDIR);
    CHECK_EQ(open_errno(0, "file/.", 0), __WASI_ERRNO_NOTDIR);
    CHECK_EQ(open_errno(0, "dir/", 0), __WASI_ERRNO_ISDIR);  /* asked for write rights */
    CHECK_EQ(open_errno(0, "new/", __WASI_OFLAGS_CREAT), __WASI_ERRNO_ISDIR);
    CHECK_EQ(__wasi_path_filestat_get(ROOT, 0, "file/", &st), __WASI_ERRNO_NOTDIR);
    CHECK_EQ(__wasi_path_unlink_file(ROOT, "file/"), __WASI_ERRNO_NOTDIR);
    CHECK_EQ(__wasi_path_filestat_get(ROOT, 0, "link/", &st), __WASI_ERRNO_NOTDIR);
    CHECK_EQ(__wasi_path_filestat_get(ROOT, 0, "dirlink/", &st), 0);  /* slash follows */
    CHECK_EQ(st.filetype, __WASI_FILETYPE_DIRECTORY);
    CHECK_EQ(__wasi_path_filestat_get(ROOT, 0, "dir/", &st), 0);
    CHECK_EQ(__wasi_path_filestat_get(ROOT, 0, "dir/.", &st), 0);
    CHECK_EQ(__wasi_path_rename(ROOT, "file", ROOT, "moved/"), __WASI_ERRNO_NOTDIR);
    CHECK_EQ(__wasi_path_symlink("file", ROOT, "sl/"), __WASI_ERRNO_NOENT);
    CHECK_EQ(__wasi_path_link(ROOT, 0, "file", ROOT, "hl/"), __WASI_ERRNO_NOENT);
    /* O_DIRECTORY on a file. */
    __wasi_fd_t dfd = 0;
    CHECK_EQ(__wasi_path_open(ROOT, 0, "file", __WASI_OFLAGS_DIRECTORY, __WASI_RIGHTS_FD_READDIR,
                              0, 0, &dfd), __WASI_ERRNO_NOTDIR);
    CHECK_EQ(__wasi_path_open(ROOT, 0, "dir", __WASI_OFLAGS_DIRECTORY, __WASI_RIGHTS_FD_READDIR,
                              0, 0, &dfd), 0);
    CHECK_EQ(__wasi_fd_close(dfd), 0);
    /* A symbolic link as the last component: ELOOP unless followed. */
    CHECK_EQ(open_errno(0, "link", 0), __WASI_ERRNO_LOOP);
    CHECK_EQ(__wasi_path_open(ROOT, 0, "dirlink", __WASI_OFLAGS_DIRECTORY,
                              __WASI_RIGHTS_FD_READDIR, 0, 0, &dfd), __WASI_ERRNO_LOOP);
    CHECK_EQ(open_errno(__WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, "link", 0), 0);
    CHECK_EQ(__wasi_path_open(ROOT, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, "dirlink",
                              __WASI_OFLAGS_DIRECTORY, __WASI_RIGHTS_FD_READDIR, 0, 0, &dfd), 0);
    CHECK_EQ(__wasi_fd_close(dfd), 0);
    CHECK_EQ(stat_path("link", 0).filetype, __WASI_FILETYPE_SYMBOLIC_LINK);
    CHECK_EQ(stat_path("link", __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW).filetype,
             __WASI_FILETYPE_REGULAR_FILE);
    /* Bad flags. */
    CHECK_EQ(open_errno(2, "file", 0), __WASI_ERRNO_INVAL);
    CHECK_EQ(open_errno(0, "file", 1 << 4), __WASI_ERRNO_INVAL);
    CHECK_EQ(open_errno(0, "x", __WASI_OFLAGS_CREAT | __WASI_OFLAGS_DIRECTORY),
             __WASI_ERRNO_INVAL);
    CHECK_EQ(__wasi_path_open(ROOT, 0, "file", 0, FILE_RW, 0, 1 << 5, &out), __WASI_ERRNO_INVAL);
    CHECK_EQ(__wasi_path_filestat_get(ROOT, 4, "file", &st), __WASI_ERRNO_INVAL);
    CHECK_EQ(__wasi_path_open(1, 0, "file", 0, FILE_RW, 0, 0, &out), __WASI_ERRNO_NOTDIR);
    CHECK_EQ(__wasi_path_open(99, 0, "file", 0, FILE_RW, 0, 0, &out), __WASI_ERRNO_BADF);
    /* Exclusive creation. */
    CHECK_EQ(open_errno(0, "file", __WASI_OFLAGS_CREAT | __WASI_OFLAGS_EXCL), __WASI_ERRNO_EXIST);
    PASS();
}

/* dirs: create, remove, unlink, rename, link, symlink, readlink (truncating). */
static int dirs_case(void) {
    CHECK_EQ(__wasi_path_create_directory(ROOT, "d"), 0);
    CHECK_EQ(__wasi_path_create_directory(ROOT, "d"), __WASI_ERRNO_EXIST);
    CHECK_EQ(__wasi_path_create_directory(ROOT, "d/e/"), 0);
    __wasi_fd_t fd = open_at(ROOT, "d/e/f", __WASI_OFLAGS_CREAT, FILE_RW, 0);
    write_all(fd, "data");
    CHECK_EQ(__wasi_fd_close(fd), 0);
    CHECK_EQ(__wasi_path_remove_directory(ROOT, "d/e"), __WASI_ERRNO_NOTEMPTY);
    CHECK_EQ(__wasi_path_remove_directory(ROOT, "d/e/f"), __WASI_ERRNO_NOTDIR);
    CHECK_EQ(__wasi_path_unlink_file(ROOT, "d/e"), __WASI_ERRNO_ISDIR);
    CHECK_EQ(__wasi_path_unlink_file(ROOT, "d/missing"), __WASI_ERRNO_NOENT);
    /* Hard link: same inode, two links. */
    CHECK_EQ(__wasi_path_link(ROOT, 0, "d/e/f", ROOT, "hard"), 0);
    __wasi_filestat_t a = stat_path("d/e/f", 0), b = stat_path("hard", 0);
    CHECK_EQ(a.ino, b.ino);
    CHECK_EQ(a.nlink, 2);
    CHECK_EQ(a.size, 4);
    CHECK_EQ(__wasi_path_link(ROOT, 0, "d/e/f", ROOT, "hard"), __WASI_ERRNO_EXIST);
    /* Symlinks: created as given, read back, truncated into a short buffer. */
    CHECK_EQ(__wasi_path_symlink("d/e/f", ROOT, "sym"), 0);
    CHECK_EQ(__wasi_path_symlink("/etc/passwd", ROOT, "abs"), __WASI_ERRNO_PERM);
    char buf[64];
    __wasi_size_t used = 0;
    memset(buf, '#', sizeof buf);
    CHECK_EQ(__wasi_path_readlink(ROOT, "sym", (uint8_t *)buf, sizeof buf, &used), 0);
    CHECK_EQ(used, 5);
    CHECK(memcmp(buf, "d/e/f#", 6) == 0);
    memset(buf, '#', sizeof buf);
    CHECK_EQ(__wasi_path_readlink(ROOT, "sym", (uint8_t *)buf, 3, &used), 0);
    CHECK_EQ(used, 3);
    CHECK(memcmp(buf, "d/e#", 4) == 0);
    CHECK_EQ(__wasi_path_readlink(ROOT, "sym", (uint8_t *)buf, 0, &used), 0);
    CHECK_EQ(used, 0);
    CHECK_EQ(__wasi_path_readlink(ROOT, "hard", (uint8_t *)buf, sizeof buf, &used),
             __WASI_ERRNO_INVAL);
    CHECK_EQ(__wasi_path_readlink(ROOT, "sym", WILD, 64, &used), __WASI_ERRNO_FAULT);
    /* Following a symlink in path_link is EINVAL (as in wasmtime); without: the link itself. */
    CHECK_EQ(__wasi_path_link(ROOT, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, "sym", ROOT, "hard2"),
             __WASI_ERRNO_INVAL);
    CHECK_EQ(__wasi_path_link(ROOT, 0, "d/e/f", ROOT, "hard2"), 0);
    CHECK_EQ(stat_path("hard2", 0).filetype, __WASI_FILETYPE_REGULAR_FILE);
    CHECK_EQ(stat_path("d/e/f", 0).nlink, 3);
    CHECK_EQ(__wasi_path_link(ROOT, 0, "sym", ROOT, "symlink2"), 0);
    CHECK_EQ(stat_path("symlink2", 0).filetype, __WASI_FILETYPE_SYMBOLIC_LINK);
    /* Rename: files, directories, over an existing file, between directory descriptors. */
    CHECK_EQ(__wasi_path_rename(ROOT, "hard", ROOT, "d/renamed"), 0);
    CHECK_EQ(__wasi_path_filestat_get(ROOT, 0, "hard", &a), __WASI_ERRNO_NOENT);
    CHECK_EQ(__wasi_path_rename(ROOT, "d/e", ROOT, "e2/"), 0);
    __wasi_fd_t d = open_at(ROOT, "d", __WASI_OFLAGS_DIRECTORY, DIR_RIGHTS, 0);
    CHECK_EQ(__wasi_path_rename(d, "renamed", ROOT, "moved"), 0);
    CHECK_EQ(stat_path("moved", 0).ino, a.ino);
    CHECK_EQ(__wasi_path_symlink("x", ROOT, "d/over"), 0);
    CHECK_EQ(__wasi_path_rename(ROOT, "sym", d, "over"), 0);  /* replaces d/over */
    CHECK_EQ(__wasi_path_rename(d, "over", ROOT, "sym"), 0);
    CHECK_EQ(__wasi_path_rename(ROOT, "e2", ROOT, "hard2"), __WASI_ERRNO_NOTDIR);
    CHECK_EQ(__wasi_path_rename(ROOT, "missing", ROOT, "x"), __WASI_ERRNO_NOENT);
    /* Unlink and rmdir. */
    CHECK_EQ(__wasi_path_unlink_file(ROOT, "symlink2"), 0);
    CHECK_EQ(__wasi_path_unlink_file(ROOT, "e2/f"), 0);
    CHECK_EQ(__wasi_path_remove_directory(ROOT, "e2"), 0);
    CHECK_EQ(stat_path("hard2", 0).nlink, 2);
    CHECK_EQ(__wasi_path_remove_directory(d, "."), __WASI_ERRNO_INVAL);
    CHECK_EQ(__wasi_fd_close(d), 0);
    CHECK_EQ(__wasi_path_remove_directory(ROOT, "d/"), 0);
    /* Opening a directory as a file to write: EISDIR. */
    CHECK_EQ(__wasi_path_create_directory(ROOT, "d"), 0);
    CHECK_EQ(open_errno(0, "d", 0), __WASI_ERRNO_ISDIR);
    PASS();
}

/* rw: reads, writes, offsets, sizes and the bad arguments around them. */
static int rw_case(void) {
    __wasi_fd_t fd = open_at(ROOT, "rw", __WASI_OFLAGS_CREAT | __WASI_OFLAGS_TRUNC, FILE_RW, 0);
    write_all(fd, "hello world");
    uint8_t a[5], b[6];
    __wasi_iovec_t iovs[2] = {{a, sizeof a}, {b, sizeof b}};
    __wasi_size_t n = 0;
    __wasi_filesize_t pos = 99;
    CHECK_EQ(__wasi_fd_tell(fd, &pos), 0);
    CHECK_EQ(pos, 11);
    CHECK_EQ(__wasi_fd_pread(fd, iovs, 2, 0, &n), 0);
    CHECK_EQ(n, 11);
    CHECK(memcmp(a, "hello", 5) == 0 && memcmp(b, " world", 6) == 0);
    CHECK_EQ(__wasi_fd_tell(fd, &pos), 0);
    CHECK_EQ(pos, 11);  /* pread leaves the offset */
    __wasi_ciovec_t w = {(const uint8_t *)"W", 1};
    CHECK_EQ(__wasi_fd_pwrite(fd, &w, 1, 6, &n), 0);
    CHECK_EQ(n, 1);
    CHECK_EQ(__wasi_fd_seek(fd, -5, __WASI_WHENCE_END, &pos), 0);
    CHECK_EQ(pos, 6);
    CHECK_EQ(__wasi_fd_read(fd, iovs, 1, &n), 0);
    CHECK_EQ(n, 5);
    CHECK(memcmp(a, "World", 5) == 0);
    CHECK_EQ(__wasi_fd_seek(fd, -2, __WASI_WHENCE_CUR, &pos), 0);
    CHECK_EQ(pos, 9);
    CHECK_EQ(__wasi_fd_read(fd, iovs, 0, &n), 0);  /* no buffers */
    CHECK_EQ(n, 0);
    /* Bad whence, negative offsets, offsets past 2^63, wild pointers, huge counts. */
    CHECK_EQ(raw_fd_seek(fd, 0, 3, &pos), __WASI_ERRNO_INVAL);
    CHECK_EQ(raw_fd_seek(fd, 0, 0x100, &pos), __WASI_ERRNO_INVAL);
    CHECK_EQ(__wasi_fd_seek(fd, -100, __WASI_WHENCE_SET, &pos), __WASI_ERRNO_INVAL);
    CHECK_EQ(__wasi_fd_seek(fd, 0, __WASI_WHENCE_SET, WILD), __WASI_ERRNO_FAULT);
    CHECK_EQ(__wasi_fd_tell(fd, &pos), 0);
    CHECK_EQ(pos, 9);  /* the failed seeks did not move */
    CHECK_EQ(__wasi_fd_pread(fd, iovs, 1, 1ull << 63, &n), __WASI_ERRNO_INVAL);
    CHECK_EQ(__wasi_fd_pwrite(fd, &w, 1, ~0ull, &n), __WASI_ERRNO_INVAL);
    CHECK_EQ(__wasi_fd_read(fd, WILD, 1, &n), __WASI_ERRNO_FAULT);
    /* More than IOV_MAX (1024) buffers: EINVAL before any is looked at, as readv(2). */
    CHECK_EQ(__wasi_fd_read(fd, iovs, 0x7FFFFFFF, &n), __WASI_ERRNO_INVAL);
    CHECK_EQ(__wasi_fd_read(fd, iovs, 1025, &n), __WASI_ERRNO_INVAL);
    __wasi_iovec_t wild = {WILD, 100};
    CHECK_EQ(__wasi_fd_read(fd, &wild, 1, &n), __WASI_ERRNO_FAULT);
    CHECK_EQ(__wasi_fd_pwrite(fd, &w, 1, 0, WILD), __WASI_ERRNO_FAULT);
    /* Size, allocation, advice, sync. */
    CHECK_EQ(__wasi_fd_filestat_set_size(fd, 3), 0);
    __wasi_filestat_t st;
    CHECK_EQ(__wasi_fd_filestat_get(fd, &st), 0);
    CHECK_EQ(st.size, 3);
    CHECK_EQ(st.filetype, __WASI_FILETYPE_REGULAR_FILE);
    CHECK_EQ(st.nlink, 1);
    CHECK_EQ(__wasi_fd_filestat_set_size(fd, 1ull << 63), __WASI_ERRNO_INVAL);
    CHECK_EQ(__wasi_fd_allocate(fd, 0, 4096), 0);
    CHECK_EQ(__wasi_fd_filestat_get(fd, &st), 0);
    CHECK_EQ(st.size, 4096);
    CHECK_EQ(__wasi_fd_filestat_get(fd, WILD), __WASI_ERRNO_FAULT);
    CHECK_EQ(__wasi_fd_advise(fd, 0, 100, __WASI_ADVICE_SEQUENTIAL), 0);
    CHECK_EQ(raw_fd_advise(fd, 0, 100, 6), __WASI_ERRNO_INVAL);
    CHECK_EQ(__wasi_fd_sync(fd), 0);
    CHECK_EQ(__wasi_fd_datasync(fd), 0);
    CHECK_EQ(__wasi_fd_sync(ROOT), 0);  /* directories sync too */
    /* A directory takes no byte-stream calls: EBADF. */
    CHECK_EQ(__wasi_fd_read(ROOT, iovs, 1, &n), __WASI_ERRNO_BADF);
    CHECK_EQ(__wasi_fd_seek(ROOT, 0, __WASI_WHENCE_SET, &pos), __WASI_ERRNO_BADF);
    CHECK_EQ(__wasi_fd_filestat_get(ROOT, &st), 0);
    CHECK_EQ(st.filetype, __WASI_FILETYPE_DIRECTORY);
    /* A read-only descriptor. */
    __wasi_fd_t ro = open_at(ROOT, "rw", 0, __WASI_RIGHTS_FD_READ, 0);
    CHECK_EQ(__wasi_fd_write(ro, &w, 1, &n), __WASI_ERRNO_BADF);
    CHECK_EQ(__wasi_fd_read(ro, iovs, 1, &n), 0);
    CHECK_EQ(__wasi_fd_close(ro), 0);
    CHECK_EQ(__wasi_fd_close(ro), __WASI_ERRNO_BADF);
    CHECK_EQ(__wasi_fd_close(fd), 0);
    PASS();
}

/* renumber: onto an open number, not onto a free one, onto stdio; the old number is freed. */
static int renumber_case(void) {
    __wasi_fd_t a = open_at(ROOT, "a", __WASI_OFLAGS_CREAT, FILE_RW, 0);
    __wasi_fd_t b = open_at(ROOT, "b", __WASI_OFLAGS_CREAT, FILE_RW, 0);
    write_all(a, "to a");
    CHECK_EQ(__wasi_fd_renumber(a, b), 0);  /* b's file is closed, b now names "a" */
    __wasi_fdstat_t st;
    CHECK_EQ(__wasi_fd_fdstat_get(a, &st), __WASI_ERRNO_BADF);
    write_all(b, "!");
    CHECK_EQ(__wasi_fd_renumber(b, 40), __WASI_ERRNO_BADF);  /* a free number: nothing moves */
    CHECK_EQ(__wasi_fd_fdstat_get(40, &st), __WASI_ERRNO_BADF);
    write_all(b, "?");
    CHECK_EQ(__wasi_fd_renumber(b, b), 0);
    CHECK_EQ(__wasi_fd_renumber(41, b), __WASI_ERRNO_BADF);
    /* The number released last is handed out next (as wasmtime does). */
    __wasi_fd_t c = open_at(ROOT, "c", __WASI_OFLAGS_CREAT, FILE_RW, 0);
    CHECK_EQ(c, a);
    /* Onto stdout: the guest's fd 1 is now the file; the host's stdout is untouched. */
    CHECK_EQ(__wasi_fd_renumber(b, 1), 0);
    write_all(1, " via 1");
    CHECK_EQ(__wasi_fd_close(1), 0);
    CHECK_EQ(__wasi_fd_close(0), 0);
    CHECK_EQ(__wasi_fd_renumber(c, 2), 0);
    CHECK_EQ(__wasi_fd_close(2), 0);
    return 0;  /* stdout is gone: the host checks the files */
}

/* many <count>: open and close thousands of files, then leave some open for the host. */
static int many_case(const char *count_text) {
    int count = atoi(count_text);
    char name[32];
    __wasi_fd_t *fds = malloc(sizeof *fds * count);
    for (int i = 0; i < count; i++) {
        snprintf(name, sizeof name, "f%d", i);
        fds[i] = open_at(ROOT, name, __WASI_OFLAGS_CREAT, FILE_RW, 0);
    }
    for (int i = 0; i < count; i++) {
        CHECK_EQ(__wasi_fd_close(fds[i]), 0);
    }
    for (int i = 0; i < count; i++) {  /* renumbering onto open numbers closes them */
        fds[i] = open_at(ROOT, "f0", 0, FILE_RW, 0);
        if (i > 0) CHECK_EQ(__wasi_fd_renumber(fds[i], fds[0]), 0);
    }
    for (int i = 0; i < 100; i++) open_at(ROOT, "f1", 0, FILE_RW, 0);  /* left open */
    PASS();
}

/* fifo: a FIFO opened by path is a stream: no seeking, its type UNKNOWN. */
static int fifo_case(void) {
    __wasi_fd_t fd = open_at(ROOT, "fifo", 0, FILE_RW & ~__WASI_RIGHTS_FD_READ, 0);
    __wasi_fdstat_t st;
    CHECK_EQ(__wasi_fd_fdstat_get(fd, &st), 0);
    CHECK_EQ(st.fs_filetype, __WASI_FILETYPE_UNKNOWN);
    CHECK_EQ(st.fs_rights_base & (__WASI_RIGHTS_FD_SEEK | __WASI_RIGHTS_FD_TELL), 0);
    write_all(fd, "through the fifo");
    __wasi_filesize_t pos;
    CHECK_EQ(__wasi_fd_seek(fd, 0, __WASI_WHENCE_CUR, &pos), __WASI_ERRNO_NOTCAPABLE);
    CHECK_EQ(__wasi_fd_close(fd), 0);
    PASS();
}

/* prestat: the preopen's name, and EBADF past the preopens. */
static int prestat_case(void) {
    __wasi_prestat_t pre;
    CHECK_EQ(__wasi_fd_prestat_get(ROOT, &pre), 0);
    CHECK_EQ(pre.tag, __WASI_PREOPENTYPE_DIR);
    CHECK_EQ(pre.u.dir.pr_name_len, 8);
    char name[8];
    CHECK_EQ(__wasi_fd_prestat_dir_name(ROOT, (uint8_t *)name, 8), 0);
    CHECK(memcmp(name, "/sandbox", 8) == 0);
    CHECK_EQ(__wasi_fd_prestat_get(ROOT + 1, &pre), __WASI_ERRNO_BADF);
    __wasi_fd_t fd = open_at(ROOT, ".", __WASI_OFLAGS_DIRECTORY, __WASI_RIGHTS_FD_READDIR, 0);
    CHECK_EQ(__wasi_fd_prestat_get(fd, &pre), __WASI_ERRNO_BADF);
    PASS();
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    const char *name = argv[1];
    if (!strcmp(name, "readdir") && argc == 4) return readdir_case(argv[2], atoi(argv[3]));
    if (!strcmp(name, "readdir_cut")) return readdir_cut_case();
    if (!strcmp(name, "times") && argc == 5) return times_case(argv[2], argv[3], argv[4]);
    if (!strcmp(name, "fdstat")) return fdstat_case();
    if (!strcmp(name, "paths")) return paths_case();
    if (!strcmp(name, "dirs")) return dirs_case();
    if (!strcmp(name, "rw")) return rw_case();
    if (!strcmp(name, "renumber")) return renumber_case();
    if (!strcmp(name, "many") && argc == 3) return many_case(argv[2]);
    if (!strcmp(name, "fifo")) return fifo_case();
    if (!strcmp(name, "prestat")) return prestat_case();
    return 2;
}
