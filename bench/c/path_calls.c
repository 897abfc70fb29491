/* Path lookups through the raw calls: path_open (then fd_close, untimed) or path_filestat_get
 * of one existing file, over and over. Usage: path_calls ITERATIONS open|stat PATH.
 * The preopen is fd 3. Opens are timed in batches, the closes between batches are not. */
#include <string.h>
#include "report.h"

#define BATCH 64

int main(int argc, char **argv) {
    uint64_t count = iterations_arg(argc, argv);
    if (argc < 4) abort();
    int opening = strcmp(argv[2], "open") == 0;
    const char *path = argv[3];
    uint64_t elapsed = 0, checksum = 0;
    __wasi_fd_t fds[BATCH];
    __wasi_filestat_t st;
    for (uint64_t done = 0; done < count; done += BATCH) {
        uint64_t start = now_ns();
        for (int i = 0; i < BATCH; i++) {
            __wasi_errno_t error = opening
                ? __wasi_path_open(3, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, path, 0,
                                   __WASI_RIGHTS_FD_READ, 0, 0, &fds[i])
                : __wasi_path_filestat_get(3, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, path, &st);
            if (error != 0) abort();
            checksum += opening ? 1 : st.size;
        }
        elapsed += now_ns() - start;
        if (opening)
            for (int i = 0; i < BATCH; i++)
                if (__wasi_fd_close(fds[i]) != 0) abort();
    }
    report(count / BATCH * BATCH, elapsed, checksum);
    return 0;
}
