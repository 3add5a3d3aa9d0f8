/*
 * Races: the path changes while the broker works on it.
 *
 *   races sys|proto buffer|swap_dir|swap_file|swap_parent
 *
 * buffer:    a second thread rewrites the path buffer between the public
 *            file and the secret while the first one opens it, for
 *            thousands of tries. The broker must read the path once and
 *            judge exactly what it opens.
 * swap_dir:  the runner (outside the sandbox) exchanges T/pub/race/d, a
 *            directory holding "data", with T/pub/race/l, a symlink to
 *            T/secret (renameat2 RENAME_EXCHANGE), while we open
 *            T/pub/race/d/data in a loop.
 * swap_file: the same with T/pub/race/f (a public file) and T/pub/race/fl
 *            (a symlink to T/secret/data).
 * swap_parent: the same with T/pub/race/wd (a directory we may create in)
 *            and T/pub/race/wl (a symlink to T/secret), while we make
 *            directories, files, symlinks and renames in T/pub/race/wd:
 *            the broker acts on the directory it judged, so nothing may
 *            ever appear in T/secret (the runner compares its names).
 *
 * Every loop is bounded in count and time (ATTACK_SECONDS, default 2).
 */
#include "common.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>

#define MAX_TRIES 200000L
#define MIN_TRIES 1000L

static char g_buf[PATH_MAX];
static char g_pub[PATH_MAX + 64], g_sec[PATH_MAX + 64];
static atomic_int g_stop;

/* Makes both paths the same length by padding the shorter with '/'. */
static void equal_length(void) {
    char a[PATH_MAX], b[PATH_MAX];
    snprintf(a, sizeof a, "pub/public.txt");
    snprintf(b, sizeof b, "secret/data");
    size_t la = strlen(a), lb = strlen(b);
    char *shorter = la < lb ? a : b;
    size_t diff = la < lb ? lb - la : la - lb;
    char tmp[PATH_MAX];
    memset(tmp, '/', diff);
    strcpy(tmp + diff, shorter);
    strcpy(shorter, tmp);
    snprintf(g_pub, sizeof g_pub, "%s/%s", g_root, a);
    snprintf(g_sec, sizeof g_sec, "%s/%s", g_root, b);
}

static void *flipper(void *arg) {
    (void)arg;
    size_t len = strlen(g_pub);
    unsigned long i = 0;
    while (!atomic_load_explicit(&g_stop, memory_order_relaxed)) {
        const char *src = (i++ & 1) ? g_sec : g_pub;
        /* Byte by byte, so that the reader may also see mixtures. */
        for (size_t k = 0; k < len; k++)
            ((volatile char *)g_buf)[k] = src[k];
    }
    return NULL;
}

struct tally {
    long tries, public_, denied, other, secret;
    int last_errno;
};

static void judge_fd(struct tally *t, int fd) {
    if (fd < 0) {
        if (fd == -E_HIDDEN)
            t->denied++;
        else {
            t->other++;
            t->last_errno = -fd;
        }
        return;
    }
    unsigned char b[64];
    ssize_t n = slurp(fd, b, sizeof b);
    close(fd);
    if (n > 0 && has_secret(b, (size_t)n)) {
        t->secret++;
        printf("read race: ");
        esc_print(b, (size_t)n);
        putchar('\n');
    } else if (n >= 6 && !memcmp(b, "PUBLIC", 6)) {
        t->public_++;
    } else {
        t->other++;
    }
}

static void report(const char *name, struct tally *t) {
    if (t->secret)
        SUCCEEDED(name, "the secret was read %ld times in %ld tries", t->secret, t->tries);
    else if (t->tries < MIN_TRIES)
        ERROR(name, "only %ld tries", t->tries);
    else
        BLOCKED(name, "%ld tries: %ld public, %ld denied, %ld other (last %s), never the secret",
                t->tries, t->public_, t->denied, t->other, ename(t->last_errno));
}

static double seconds(void) {
    const char *s = getenv("ATTACK_SECONDS");
    double d = s ? atof(s) : 2.0;
    return d > 0 && d < 30 ? d : 2.0;
}

static void buffer_race(void) {
    const char *n = "buffer_rewrite";
    equal_length();
    strcpy(g_buf, g_pub);
    pthread_t th;
    if (pthread_create(&th, NULL, flipper, NULL)) {
        ERROR(n, "pthread_create");
        return;
    }
    struct tally t = {0};
    struct tally st = {0};
    double end = now() + seconds();
    size_t len = strlen(g_pub);
    while (t.tries < MAX_TRIES && (now() < end || t.tries < MIN_TRIES)) {
        t.tries++;
        int fd;
        if (g_proto) {
            /* The request is built from the buffer while it changes; the
             * broker judges whatever arrives. */
            fd = w_open_len(g_buf, len, O_RDONLY, 0);
        } else if (t.tries % 3 == 0) {
            /* openat2: the path and the struct are both in our memory. */
            struct { uint64_t flags, mode, resolve; } how = {O_RDONLY, 0, 0};
            fd = (int)syscall(SYS_openat2, AT_FDCWD, g_buf, &how, sizeof how);
            if (fd < 0)
                fd = -errno;
        } else {
            fd = t.tries % 3 == 1 ? (int)syscall(SYS_openat, AT_FDCWD, g_buf, O_RDONLY, 0)
                                  : (int)syscall(SYS_open, g_buf, O_RDONLY, 0);
            if (fd < 0)
                fd = -errno;
        }
        judge_fd(&t, fd);
        /* Metadata of the secret must not come back either. */
        if (!g_proto && t.tries % 8 == 0) {
            struct stat s;
            st.tries++;
            if (stat(g_buf, &s) == 0 && s.st_size > 0) {
                const char *ino = getenv("ATTACK_SECRET_INO");
                if (ino && (unsigned long)s.st_ino == strtoul(ino, NULL, 10))
                    st.secret++;
            }
        }
    }
    atomic_store(&g_stop, 1);
    pthread_join(th, NULL);
    report(n, &t);
    if (!g_proto) {
        if (st.secret)
            SUCCEEDED(n, "stat returned the secret's inode %ld times", st.secret);
        else
            BLOCKED(n, "%ld stats, never the secret's metadata", st.tries);
    }
}

static void swap_race(const char *n, const char *rel) {
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", g_root, rel);
    struct tally t = {0};
    double end = now() + seconds();
    while (t.tries < MAX_TRIES && (now() < end || t.tries < MIN_TRIES)) {
        t.tries++;
        judge_fd(&t, w_open(p, O_RDONLY, 0));
    }
    report(n, &t);
}

static void parent_race(void) {
    const char *n = "swap_parent";
    char p[PATH_MAX], q[PATH_MAX];
    long tries = 0, made = 0, refused = 0, other = 0;
    int last = 0;
    double end = now() + seconds();
    while (tries < MAX_TRIES && (now() < end || tries < MIN_TRIES)) {
        tries++;
        snprintf(p, sizeof p, "%s/pub/race/wd/n%ld", g_root, tries);
        long r;
        switch (tries % 4) {
        case 0:
            r = mkdir(p, 0755);
            break;
        case 1:
            r = symlink("x", p);
            break;
        case 2: {
            int fd = open(p, O_CREAT | O_EXCL | O_WRONLY, 0644);
            r = fd < 0 ? -1 : 0;
            if (fd >= 0)
                close(fd);
            break;
        }
        default:
            /* Into the directory, from the file made just before. */
            snprintf(q, sizeof q, "%s/pub/race/wd/n%ld", g_root, tries - 1);
            r = rename(q, p);
        }
        if (r == 0)
            made++;
        else if (errno == EACCES || errno == ENOENT)
            refused++;
        else {
            other++;
            last = errno;
        }
    }
    /* Unconfined (the control), some land in T/secret through the swap;
     * confined, T/secret cannot even be listed. */
    long leaked = 0;
    snprintf(p, sizeof p, "%s/secret", g_root);
    DIR *d = opendir(p);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            leaked += e->d_name[0] == 'n' && e->d_name[1] >= '0' && e->d_name[1] <= '9';
        closedir(d);
    }
    if (leaked)
        SUCCEEDED(n, "%ld names made in T/secret through the swapped parent", leaked);
    else if (tries < MIN_TRIES)
        ERROR(n, "only %ld tries", tries);
    else
        BLOCKED(n, "%ld tries: %ld made in the directory judged, %ld refused, %ld other (last %s)",
                tries, made, refused, other, ename(last));
}

int main(int argc, char **argv) {
    init_common();
    g_proto = argc > 1 && !strcmp(argv[1], "proto");
    const char *which = argc > 2 ? argv[2] : "buffer";
    if (g_proto && broker_sock() < 0) {
        ERROR("setup", "FDBROKER_FD is not a seqpacket socket");
        return 2;
    }
    control_public("before");
    ready();
    if (!g_control)
        bystander_start();
    if (!strcmp(which, "buffer"))
        buffer_race();
    else if (!strcmp(which, "swap_dir"))
        swap_race("swap_dir", "pub/race/d/data");
    else if (!strcmp(which, "swap_file"))
        swap_race("swap_file", "pub/race/f");
    else if (!strcmp(which, "swap_parent"))
        parent_race();
    else
        ERROR("setup", "unknown race %s", which);
    bystander_stop();
    control_public("after");
    done();
    return 0;
}
