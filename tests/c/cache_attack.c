/* A hostile guest given a writable home directory (`pywasi run --dir $HOME`): every way it
 * has to plant native code in pywasi's compiled-module cache ($HOME/.cache/pywasi) for a later
 * run. argv[1] is $HOME as preopened, argv[2] the name of the victim module's cache entry (an
 * attacker can compute it: it hashes public things). Each attempt prints "refused NAME: why"
 * or "BREACH NAME"; the exit status is the number of breaches. First it reads
 * $HOME/.cache/neighbour, which it may: the rest of ~/.cache stays usable. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *home;
static int breaches;

static const char *at(const char *relative) {
    static char paths[8][512];
    static int next;
    char *path = paths[next++ % 8];
    snprintf(path, sizeof paths[0], "%s/%s", home, relative);
    return path;
}

static void attempt(const char *name, int result) {
    if (result < 0) {
        printf("refused %s: %s\n", name, strerror(errno));
    } else {
        printf("BREACH %s\n", name);
        breaches++;
    }
}

/* Create `path` holding `text`: -1 if refused. */
static int plant(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return -1;
    write(fd, text, strlen(text));
    return close(fd);
}

static int read_file(const char *path) {
    char buffer[64];
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    read(fd, buffer, sizeof buffer);
    return close(fd);
}

static int list(const char *path) {
    DIR *dir = opendir(path);
    if (dir == NULL) return -1;
    return closedir(dir);
}

int main(int argc, char **argv) {
    if (argc != 3) return 100;
    home = argv[1];
    char entry[256], forged[512];
    snprintf(entry, sizeof entry, ".cache/pywasi/%s", argv[2]);
    /* What a forged entry would hold; its MAC is a guess, since the key cannot be read. */
    snprintf(forged, sizeof forged, "pywasi-cwasm-3\n(key)(mac)\x90\x90\xc3");

    printf("neighbour: %s\n", read_file(at(".cache/neighbour")) < 0 ? strerror(errno) : "read");

    /* Steal the secret key, or read what is there. */
    attempt("read key", read_file(at(".cache/pywasi/key")));
    attempt("read key via ..", read_file(at(".cache/pywasi/../pywasi/./key")));
    attempt("list cache", list(at(".cache/pywasi")));
    attempt("link key out", link(at(".cache/pywasi/key"), at("stolen-key")));
    symlink(".cache/pywasi", at("shortcut"));  /* allowed: following it is what must fail */
    attempt("read key via symlink", read_file(at("shortcut/key")));
    symlink(".cache", at("shortcut-cache"));
    attempt("read key via ancestor symlink", read_file(at("shortcut-cache/pywasi/key")));
    /* $HOME/mirror, where a test may bind-mount the cache directory: another way in. */
    attempt("read key via another mount", read_file(at("mirror/key")));
    attempt("list cache via another mount", list(at("mirror")));

    /* Write an entry or a key. */
    attempt("plant entry", plant(at(entry), forged));
    attempt("replace key", plant(at(".cache/pywasi/key"), "0123456789abcdef0123456789abcdef"));

    /* Replace the directory, or an ancestor, with one of our own (or a link to one). */
    mkdir(at("evil"), 0700);
    mkdir(at("evil/pywasi"), 0700);
    plant(at("evil/pywasi/key"), "0123456789abcdef0123456789abcdef");
    attempt("rename cache away", rename(at(".cache/pywasi"), at("old-pywasi")));
    attempt("rename .cache away", rename(at(".cache"), at("old-cache")));
    attempt("remove cache", rmdir(at(".cache/pywasi")));
    attempt("unlink cache", unlink(at(".cache/pywasi")));
    attempt("symlink over cache", symlink("../evil/pywasi", at(".cache/pywasi")));
    attempt("rename ours over cache", rename(at("evil/pywasi"), at(".cache/pywasi")));
    attempt("rename ours over .cache", rename(at("evil"), at(".cache")));
    attempt("symlink over .cache", symlink("evil", at(".cache")));

    /* Make it before the host does (in a home with no cache yet). */
    attempt("create .cache", mkdir(at(".cache"), 0700));
    attempt("create cache", mkdir(at(".cache/pywasi"), 0700));
    attempt("create key", plant(at(".cache/pywasi/key"), "0123456789abcdef0123456789abcdef"));
    fflush(stdout);
    return breaches;
}
