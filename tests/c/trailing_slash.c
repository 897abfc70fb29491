/* Path calls whose path ends in a slash, against Linux's answers (tests/test_trailing_slash.py).
 * The preopened directory is fd 3. Each argument is one case, "op path": the case runs in a
 * fresh directory c<i> holding dir/, file, ld -> dir, lf -> file and ln -> nothere, and
 * prints "<i> <errno>" then what each name there is afterwards ("name:type" from a lookup
 * that follows no link, or "name:-errno"), so the caller compares both with the kernel's. */
#include <wasi/api.h>
#include <stdio.h>
#include "check.h"

#define ROOT 3
#define READ_RIGHTS (__WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_READDIR | \
    __WASI_RIGHTS_FD_FILESTAT_GET)

static const char *const NAMES[] = {"dir", "file", "ld", "lf", "ln", "nothere", "x", "t"};

static void make_fixture(const char *at) {
    char path[64];
    __wasi_fd_t fd = 0;
    CHECK_EQ(__wasi_path_create_directory(ROOT, at), 0);
    snprintf(path, sizeof path, "%s/dir", at);
    CHECK_EQ(__wasi_path_create_directory(ROOT, path), 0);
    snprintf(path, sizeof path, "%s/file", at);
    CHECK_EQ(__wasi_path_open(ROOT, 0, path, __WASI_OFLAGS_CREAT, READ_RIGHTS, 0, 0, &fd), 0);
    CHECK_EQ(__wasi_fd_close(fd), 0);
    const char *links[][2] = {{"dir", "ld"}, {"file", "lf"}, {"nothere", "ln"}};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", at, links[i][1]);
        CHECK_EQ(__wasi_path_symlink(links[i][0], ROOT, path), 0);
    }
}

static __wasi_errno_t open_with(const char *path, __wasi_lookupflags_t lookup,
                                __wasi_oflags_t oflags) {
    __wasi_fd_t fd = 0;
    __wasi_errno_t err = __wasi_path_open(ROOT, lookup, path, oflags, READ_RIGHTS, 0, 0, &fd);
    if (err == 0) CHECK_EQ(__wasi_fd_close(fd), 0);
    return err;
}

/* One call, on `path` (and the case's "x", "dir", "file" where it takes two). */
static __wasi_errno_t run_op(const char *op, const char *path, const char *at) {
    char dir[64], file[64], x[64];
    char buf[64];
    __wasi_size_t used = 0;
    __wasi_filestat_t st;
    snprintf(dir, sizeof dir, "%s/dir", at);
    snprintf(file, sizeof file, "%s/file", at);
    snprintf(x, sizeof x, "%s/x", at);
    if (!strcmp(op, "rmdir")) return __wasi_path_remove_directory(ROOT, path);
    if (!strcmp(op, "unlink")) return __wasi_path_unlink_file(ROOT, path);
    if (!strcmp(op, "mkdir")) return __wasi_path_create_directory(ROOT, path);
    if (!strcmp(op, "rename_from")) return __wasi_path_rename(ROOT, path, ROOT, x);
    if (!strcmp(op, "rename_dir_to")) return __wasi_path_rename(ROOT, dir, ROOT, path);
    if (!strcmp(op, "rename_file_to")) return __wasi_path_rename(ROOT, file, ROOT, path);
    if (!strcmp(op, "link_from")) return __wasi_path_link(ROOT, 0, path, ROOT, x);
    if (!strcmp(op, "link_to")) return __wasi_path_link(ROOT, 0, file, ROOT, path);
    if (!strcmp(op, "symlink")) return __wasi_path_symlink("t", ROOT, path);
    if (!strcmp(op, "readlink"))
        return __wasi_path_readlink(ROOT, path, (uint8_t *)buf, sizeof buf, &used);
    if (!strcmp(op, "stat")) return __wasi_path_filestat_get(ROOT, 0, path, &st);
    if (!strcmp(op, "stat_follow"))
        return __wasi_path_filestat_get(ROOT, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, path, &st);
    if (!strcmp(op, "utimes"))
        return __wasi_path_filestat_set_times(ROOT, 0, path, 0, 0, __WASI_FSTFLAGS_MTIM_NOW);
    if (!strcmp(op, "open")) return open_with(path, 0, 0);
    if (!strcmp(op, "open_follow")) return open_with(path, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, 0);
    if (!strcmp(op, "open_directory")) return open_with(path, 0, __WASI_OFLAGS_DIRECTORY);
    if (!strcmp(op, "open_create")) return open_with(path, 0, __WASI_OFLAGS_CREAT);
    printf("unknown op %s\n", op);
    exit(2);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        char at[16], op[32], name[32], path[64];
        CHECK_EQ(sscanf(argv[i], "%31s %31s", op, name), 2);
        snprintf(at, sizeof at, "c%d", i);
        make_fixture(at);
        snprintf(path, sizeof path, "%s/%s", at, name);
        printf("%d %d", i, run_op(op, path, at));
        for (size_t n = 0; n < sizeof NAMES / sizeof *NAMES; n++) {
            __wasi_filestat_t st;
            snprintf(path, sizeof path, "%s/%s", at, NAMES[n]);
            __wasi_errno_t err = __wasi_path_filestat_get(ROOT, 0, path, &st);
            if (err) printf(" %s:-%d", NAMES[n], err);
            else printf(" %s:%d", NAMES[n], st.filetype);
        }
        printf("\n");
    }
    PASS();
}
