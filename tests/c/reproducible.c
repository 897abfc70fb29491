/* For reproducible runs: everything a host varies run to run. Prints the time, 16 random
 * bytes, a listing of /dir, a file's times and inode, sleeps, prints the time again, and
 * writes /dir/out.txt (created, then given times of its own). Built with -DEXTRA_OPEN, it
 * opens another file first; with -DOTHER_FILE, it stats b.txt for a.txt: a replay of the
 * plain build's recording must stop there. */
#include "check.h"
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void print_time(const char *what) {
    struct timespec real, mono;
    CHECK(clock_gettime(CLOCK_REALTIME, &real) == 0);
    CHECK(clock_gettime(CLOCK_MONOTONIC, &mono) == 0);
    printf("%s: realtime %lld.%09ld monotonic %lld.%09ld\n", what, (long long)real.tv_sec,
           real.tv_nsec, (long long)mono.tv_sec, mono.tv_nsec);
}

static void print_stat(const char *path) {
    struct stat st;
    CHECK(stat(path, &st) == 0);
    printf("%s: dev %llu ino %llu nlink %llu size %lld atime %lld mtime %lld.%09ld ctime %lld\n",
           path, (unsigned long long)st.st_dev, (unsigned long long)st.st_ino,
           (unsigned long long)st.st_nlink, (long long)st.st_size, (long long)st.st_atime,
           (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec, (long long)st.st_ctime);
}

int main(void) {
#ifdef EXTRA_OPEN
    int other = open("/dir/other.txt", O_RDONLY);
    if (other >= 0) close(other);
#endif
    print_time("start");
    unsigned char bytes[16];
    CHECK(getentropy(bytes, sizeof bytes) == 0);
    printf("random:");
    for (int i = 0; i < 16; i++) printf(" %02x", bytes[i]);
    printf("\n");
    DIR *dir = opendir("/dir");
    CHECK(dir != NULL);
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL)
        printf("entry %s ino %llu\n", entry->d_name, (unsigned long long)entry->d_ino);
    closedir(dir);
#ifdef OTHER_FILE
    print_stat("/dir/b.txt");
#else
    print_stat("/dir/a.txt");
#endif
    print_stat("/dir");
    struct timespec nap = {0, 50 * 1000 * 1000};
    CHECK(nanosleep(&nap, NULL) == 0);
    print_time("after sleep");
    FILE *out = fopen("/dir/out.txt", "w");
    CHECK(out != NULL);
    fprintf(out, "written\n");
    fclose(out);
    print_stat("/dir/out.txt");
    struct timespec times[2] = {{1234567890, 5}, {1234567891, 6}};
    CHECK(utimensat(AT_FDCWD, "/dir/out.txt", times, 0) == 0);
    print_stat("/dir/out.txt");
    fprintf(stderr, "done\n");
    return 3;
}
