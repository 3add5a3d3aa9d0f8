/*
 * Path tricks: strings that look harmless, or are odd, but lead to the
 * secret (T/secret/data, T/pub/private/key) or to the broker's /proc.
 *
 *   path_tricks sys|proto
 *
 * The tree (made by the runner): T/pub (readable), T/pub/private (denied),
 * T/out (writable), T/secret (nothing), symlinks in T/pub pointing out.
 */
#include "common.h"

#include <dirent.h>
#include <sys/mman.h>

static void dotdot(void) {
    const char *n = "dotdot";
    expect_refused_open(n, tpath("pub/../secret/data"), O_RDONLY);
    expect_refused_open(n, tpath("pub/./../secret/./data"), O_RDONLY);
    expect_refused_open(n, tpath("pub/private/../../secret/data"), O_RDONLY);
    expect_refused_open(n, tpath("pub/sub/../../secret/data"), O_RDONLY);
    char p[PATH_MAX];
    /* ".." above the root stays at the root. */
    snprintf(p, sizeof p, "/../../..%s/secret/data", g_root);
    expect_refused_open(n, p, O_RDONLY);
    snprintf(p, sizeof p, "/..%s/pub/../secret/data", g_root);
    expect_refused_open(n, p, O_RDONLY);
}

static void deny_rule(void) {
    const char *n = "deny_rule";
    expect_refused_open(n, tpath("pub/private/key"), O_RDONLY);
    expect_refused_open(n, tpath("pub//private/./key"), O_RDONLY);
    expect_refused_open(n, tpath("pub/sub/../private/key"), O_RDONLY);
    expect_refused_open(n, tpath("pub/link_private"), O_RDONLY);
    expect_refused_open(n, tpath("pub/private"), O_RDONLY | O_DIRECTORY);
}

static void symlinks(void) {
    const char *n = "symlink_file";
    expect_refused_open(n, tpath("pub/link_file"), O_RDONLY);
    expect_refused_open(n, tpath("pub/rel_link"), O_RDONLY);
    expect_refused_open(n, tpath("pub/chain"), O_RDONLY);
    expect_refused_open(n, tpath("pub/link_file"), O_RDONLY | O_NOFOLLOW);
    n = "symlink_dir";
    expect_refused_open(n, tpath("pub/link_dir/data"), O_RDONLY);
    expect_refused_open(n, tpath("pub/link_dir"), O_RDONLY | O_DIRECTORY);
    expect_refused_open(n, tpath("pub/link_dir/../secret/data"), O_RDONLY);
    expect_refused_open(n, tpath("pub/link_dir/./data"), O_RDONLY);
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/pub/link_root%s/secret/data", g_root, g_root);
    expect_refused_open(n, p, O_RDONLY);
    expect_refused_open(n, tpath("pub/loop"), O_RDONLY);
}

static void proc_root(void) {
    const char *n = "proc_self_root";
    char p[PATH_MAX];
    snprintf(p, sizeof p, "/proc/self/root%s/secret/data", g_root);
    expect_refused_open(n, p, O_RDONLY);
    snprintf(p, sizeof p, "/proc/thread-self/root%s/secret/data", g_root);
    expect_refused_open(n, p, O_RDONLY);
    snprintf(p, sizeof p, "/proc/%d/root%s/secret/data", (int)getpid(), g_root);
    expect_refused_open(n, p, O_RDONLY);
    snprintf(p, sizeof p, "/proc/self/root%s/pub/public.txt", g_root);
    expect_refused_open(n, p, O_RDONLY);
    n = "proc_broker_root";
    snprintf(p, sizeof p, "/proc/%d/root%s/secret/data", (int)g_broker, g_root);
    expect_refused_open(n, p, O_RDONLY);
    snprintf(p, sizeof p, "/proc/%d/cwd%s/secret/data", (int)g_broker, g_root);
    expect_refused_open(n, p, O_RDONLY);
    snprintf(p, sizeof p, "/proc/1/root%s/secret/data", g_root);
    expect_refused_open(n, p, O_RDONLY);
    /* The broker's own descriptors (its resolver holds "/" and /proc/<pid>/fd). */
    for (int i = 0; i < 64; i++) {
        snprintf(p, sizeof p, "/proc/%d/fd/%d", (int)g_broker, i);
        int fd = w_open(p, O_RDONLY, 0);
        if (fd == -ENOENT || fd == -EACCES || fd == -ELOOP)
            continue;
        expect_refused_fd(n, p, fd);
    }
    BLOCKED(n, "no descriptor of the broker could be reopened");
}

/* /proc/self/fd/N and friends must not turn a read-only descriptor into a
 * writable one. */
static void fd_reopen(void) {
    const char *n = "fd_reopen";
    int ro = w_open(tpath("pub/protected.txt"), O_RDONLY, 0);
    if (ro < 0) {
        ERROR(n, "the read-only open itself failed: %s", ename(-ro));
        return;
    }
    if (write(ro, "PWNED", 5) >= 0)
        SUCCEEDED(n, "a read-only descriptor is writable");
    else
        BLOCKED(n, "write on the read-only descriptor: %s", ename(errno));
    char p[PATH_MAX];
    const char *fmts[] = {"/proc/self/fd/%d", "/dev/fd/%d", "/proc/thread-self/fd/%d",
                          "/proc/%d/fd/%d", "/proc/self/task/%d/fd/%d"};
    int modes[] = {O_RDWR, O_WRONLY, O_WRONLY | O_TRUNC, O_RDWR | O_APPEND};
    for (size_t f = 0; f < sizeof fmts / sizeof *fmts; f++) {
        if (f < 3)
            snprintf(p, sizeof p, fmts[f], ro);
        else
            snprintf(p, sizeof p, fmts[f], (int)getpid(), ro);
        for (size_t m = 0; m < sizeof modes / sizeof *modes; m++) {
            int fd = w_open(p, modes[m], 0);
            if (fd >= 0) {
                ssize_t w = write(fd, "PWNED", 5);
                SUCCEEDED(n, "%s reopened with flags %#x (write: %zd)", p, modes[m], w);
                close(fd);
            } else {
                BLOCKED(n, "%s flags %#x: %s", p, modes[m], ename(-fd));
            }
        }
    }
    /* Reopening for reading is refused too (magic links are never followed). */
    snprintf(p, sizeof p, "/proc/self/fd/%d", ro);
    int fd = w_open(p, O_RDONLY, 0);
    if (fd >= 0) {
        SUCCEEDED(n, "%s reopened read-only: a magic link was followed", p);
        close(fd);
    } else {
        BLOCKED(n, "%s read-only: %s", p, ename(-fd));
    }
    expect_refused_open(n, "/dev/stdin", O_RDONLY);
    close(ro);
}

static void o_path(void) {
    const char *n = "o_path";
    int flags[] = {O_PATH, O_PATH | O_NOFOLLOW, O_PATH | O_DIRECTORY, O_PATH | O_RDWR};
    const char *paths[] = {tpath("secret/data"), tpath("pub/link_file"), tpath("secret"),
                           tpath("pub/public.txt"), tpath("pub")};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++)
        for (size_t f = 0; f < sizeof flags / sizeof *flags; f++) {
            int fd = w_open(paths[i], flags[f], 0);
            /* pub/public.txt and pub: the policy lets us read them. */
            int readable = i >= 3;
            int got = fd >= 0 ? fcntl(fd, F_GETFL) : 0;
            if (fd >= 0 && readable && !(got & O_PATH) && (got & O_ACCMODE) == O_RDONLY) {
                /* What fdbroker run answers (docs/syscalls.md): a read-only
                 * descriptor, as O_RDONLY gives, for what may be read. */
                BLOCKED(n, "%s %#x: a read-only descriptor, no O_PATH", paths[i], flags[f]);
                close(fd);
            } else if (fd >= 0) {
                /* An O_PATH descriptor to anything would be a way around the
                 * broker's later checks (openat(fd, ...), fchdir, linkat). */
                SUCCEEDED(n, "%s with O_PATH (%#x) gave a descriptor", paths[i], flags[f]);
                close(fd);
            } else {
                BLOCKED(n, "%s %#x: %s", paths[i], flags[f], ename(-fd));
            }
        }
}

static void o_tmpfile(void) {
    const char *n = "o_tmpfile";
    const char *dirs[] = {tpath("secret"), tpath("pub"), tpath("out"), tpath("pub/private")};
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        int fd = w_open(dirs[i], O_TMPFILE | O_RDWR, 0600);
        if (fd < 0) {
            BLOCKED(n, "%s: %s", dirs[i], ename(-fd));
            continue;
        }
        /* O_TMPFILE is refused outright (docs/protocol.md); an unnamed file
         * that could be linked in later would escape the create right. */
        SUCCEEDED(n, "O_TMPFILE in %s gave a descriptor", dirs[i]);
        close(fd);
    }
}

/* Relative paths after chdir(2) and through directory descriptors (only
 * the system-call way has a working directory and directory descriptors). */
static void relative(void) {
    const char *n = "relative_chdir";
    char old[PATH_MAX];
    if (!getcwd(old, sizeof old))
        strcpy(old, "/");
    if (chdir(tpath("pub")) == 0) {
        expect_refused_open(n, "../secret/data", O_RDONLY);
        expect_refused_open(n, "link_file", O_RDONLY);
        expect_refused_open(n, "link_dir/data", O_RDONLY);
        expect_refused_open(n, "private/key", O_RDONLY);
        expect_refused_open(n, "./../pub/../secret/data", O_RDONLY);
    } else {
        ERROR(n, "chdir pub: %s", ename(errno));
    }
    /* chdir itself is not brokered (docs/syscalls.md): into the secret
     * directory, and into the broker's /proc entry. */
    if (chdir(tpath("secret")) == 0) {
        expect_refused_open(n, "data", O_RDONLY);
        expect_refused_open(n, "./data", O_RDONLY);
        struct stat st;
        int r = stat("data", &st);
        if (r == 0)
            SUCCEEDED(n, "stat of the secret by a relative name");
        else
            BLOCKED(n, "stat data: %s", ename(errno));
    } else {
        BLOCKED(n, "chdir into the secret directory: %s", ename(errno));
    }
    char p[64];
    snprintf(p, sizeof p, "/proc/%d", (int)g_broker);
    if (chdir(p) == 0) {
        expect_refused_open(n, "environ", O_RDONLY);
        expect_refused_open(n, "status", O_RDONLY);
        expect_refused_open(n, "mem", O_RDONLY);
    } else {
        BLOCKED(n, "chdir %s: %s", p, ename(errno));
    }
    if (chdir("/proc/self/fd") == 0) {
        expect_refused_open(n, "0", O_RDONLY);
    }
    if (chdir("/proc/self/root") == 0) {
        char rel[PATH_MAX];
        snprintf(rel, sizeof rel, "%s/secret/data", g_root + 1);
        expect_refused_open(n, rel, O_RDONLY);
    }
    if (chdir(old) != 0)
        (void)!chdir("/");

    n = "relative_dirfd";
    int d = open(tpath("pub"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d < 0) {
        ERROR(n, "open pub: %s", ename(errno));
        return;
    }
    const char *rels[] = {"../secret/data", "link_file", "link_dir/data", "private/key",
                          "sub/../../secret/data"};
    for (size_t i = 0; i < sizeof rels / sizeof *rels; i++) {
        int fd = openat(d, rels[i], O_RDONLY);
        expect_refused_fd(n, rels[i], fd < 0 ? -errno : fd);
        struct stat st;
        if (fstatat(d, rels[i], &st, 0) == 0)
            SUCCEEDED(n, "fstatat(pub, %s) worked", rels[i]);
        else
            BLOCKED(n, "fstatat %s: %s", rels[i], ename(errno));
    }
    /* Directory descriptors that are not directories. */
    int pfd[2];
    if (pipe(pfd) == 0) {
        int fd = openat(pfd[0], "../secret/data", O_RDONLY);
        expect_refused_fd(n, "openat(pipe, ...)", fd < 0 ? -errno : fd);
        close(pfd[0]);
        close(pfd[1]);
    }
    int sock = broker_sock();
    if (sock >= 0) {
        int fd = openat(sock, "x", O_RDONLY);
        expect_refused_fd(n, "openat(FDBROKER_FD, ...)", fd < 0 ? -errno : fd);
    }
    int mfd = (int)syscall(SYS_memfd_create, "x", 0);
    if (mfd >= 0) {
        char rel[PATH_MAX];
        snprintf(rel, sizeof rel, "../..%s/secret/data", g_root);
        int fd = openat(mfd, rel, O_RDONLY);
        expect_refused_fd(n, "openat(memfd, ../..T/secret/data)", fd < 0 ? -errno : fd);
        close(mfd);
    }
    /* The kernel reads dirfd as an int: junk in the upper half. */
    long junk = (long)(((unsigned long)0xdead << 32) | (unsigned)d);
    int fd = (int)syscall(SYS_openat, junk, "../secret/data", O_RDONLY, 0);
    expect_refused_fd(n, "openat(dirfd with junk upper bits)", fd < 0 ? -errno : fd);
    close(d);
}

static void relative_proto(void) {
    const char *n = "relative_proto";
    expect_refused_open(n, "secret/data", O_RDONLY);
    expect_refused_open(n, "../secret/data", O_RDONLY);
    expect_refused_open(n, "", O_RDONLY);
}

static void overlong(void) {
    const char *n = "overlong";
    /* 4095 bytes: as long as a path can be, resolving to the secret. */
    char p[8192];
    size_t base = (size_t)snprintf(p, sizeof p, "%s/pub", g_root);
    const char *tail = "/../secret/data";
    while (base + 2 + strlen(tail) <= 4095) {
        memcpy(p + base, "/.", 2);
        base += 2;
    }
    if (base + strlen(tail) < 4095)
        p[base++] = '/';
    strcpy(p + base, tail);
    expect_refused_fd(n, "4095-byte path to the secret", w_open_len(p, strlen(p), O_RDONLY, 0));
    /* 4096 bytes (no room for the NUL) and more: ENAMETOOLONG, or EPROTO
     * on the wire. */
    char tailp[PATH_MAX];
    int tl = snprintf(tailp, sizeof tailp, "%s/secret/data", g_root);
    memset(p, '/', 4096 - (size_t)tl);
    memcpy(p + 4096 - tl, tailp, (size_t)tl + 1);
    expect_refused_fd(n, "4096-byte path", w_open_len(p, 4096, O_RDONLY, 0));
    memset(p, '/', sizeof p);
    snprintf(p + 8000, 100, "%s", "x");
    expect_refused_fd(n, "8000-byte path", w_open_len(p, strlen(p), O_RDONLY, 0));
    /* Many components, each a symlink hop in the end. */
    size_t k = (size_t)snprintf(p, sizeof p, "%s/pub", g_root);
    while (k + 40 < 4000)
        k += (size_t)snprintf(p + k, sizeof p - k, "/sub/..");
    snprintf(p + k, sizeof p - k, "/link_dir/data");
    expect_refused_open(n, p, O_RDONLY);
    if (!g_proto) {
        /* A path with no NUL before an unmapped page: the broker must stop
         * at the page, not crash or read beyond. */
        long pg = sysconf(_SC_PAGESIZE);
        char *m = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m != MAP_FAILED) {
            munmap(m + pg, pg);
            memset(m, '/', pg);
            int fd = (int)syscall(SYS_openat, AT_FDCWD, m, O_RDONLY, 0);
            expect_refused_fd(n, "unterminated path at a page edge", fd < 0 ? -errno : fd);
            memcpy(m + pg - 5, "/etc", 5); /* terminated right at the edge */
            fd = (int)syscall(SYS_openat, AT_FDCWD, m + pg - 5, O_RDONLY | O_DIRECTORY, 0);
            if (fd >= 0)
                close(fd);
            LINE("info overlong: /etc at a page edge: %s", fd >= 0 ? "OK" : ename(errno));
            fd = (int)syscall(SYS_openat, AT_FDCWD, (char *)8, O_RDONLY, 0);
            expect_refused_fd(n, "path at address 8", fd < 0 ? -errno : fd);
            fd = (int)syscall(SYS_openat, AT_FDCWD, (char *)-1L, O_RDONLY, 0);
            expect_refused_fd(n, "path at address -1", fd < 0 ? -errno : fd);
            munmap(m, pg);
        }
    }
}

static void non_utf8(void) {
    const char *n = "non_utf8";
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/secret/\xff\xfe", g_root);
    expect_refused_open(n, p, O_RDONLY);
    snprintf(p, sizeof p, "%s/pub/\xff/../../secret/data", g_root);
    expect_refused_open(n, p, O_RDONLY);
    snprintf(p, sizeof p, "%s/pub/\xc0\xaf../secret/data", g_root); /* overlong '/' */
    expect_refused_open(n, p, O_RDONLY);
    snprintf(p, sizeof p, "%s/pub/\xe2\x80\xae" "atad/terces", g_root);
    expect_refused_open(n, p, O_RDONLY);
    /* Legitimate: creating a non-UTF-8 name where creating is allowed. */
    snprintf(p, sizeof p, "%s/out/\xff\xfe-%d", g_root, g_proto);
    int fd = w_open(p, O_CREAT | O_WRONLY | O_EXCL, 0600);
    if (fd >= 0) {
        close(fd);
        LINE("control non-UTF-8 create ok");
    } else {
        LINE("control non-UTF-8 create FAILED: %s", ename(-fd));
    }
}

static void embedded_nul(void) {
    const char *n = "embedded_nul";
    char p[PATH_MAX];
    int len = snprintf(p, sizeof p, "%s/pub/public.txt", g_root);
    int len2 = snprintf(p + len + 1, sizeof p - len - 1, "/../../secret/data");
    size_t total = (size_t)len + 1 + (size_t)len2;
    int fd = w_open_len(p, total, O_RDONLY, 0);
    if (g_proto) {
        /* docs/protocol.md: a NUL inside the path is EINVAL. */
        expect_refused_fd(n, "NUL inside a protocol path", fd);
        return;
    }
    /* For a system call the string ends at the NUL: the public file. */
    unsigned char b[64];
    ssize_t r = fd >= 0 ? slurp(fd, b, sizeof b) : -1;
    if (fd >= 0)
        close(fd);
    if (r > 0 && has_secret(b, (size_t)r))
        SUCCEEDED(n, "read past the NUL");
    else
        BLOCKED(n, "the path ended at the NUL (%s)", fd >= 0 ? "public file" : ename(-fd));
}

/* The child cannot learn about files it may not see: not their metadata,
 * not even whether they exist. Every one of them looks absent (E_HIDDEN),
 * the existing and the missing alike. */
static void query(void) {
    const char *n = "query";
    struct stat st;
    const char *paths[] = {tpath("secret/data"), tpath("secret/nope"), tpath("secret"),
                           tpath("pub/private/key"), tpath("pub/link_file"),
                           tpath("pub/link_dir/data")};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        int r = w_stat(paths[i], 1, &st);
        if (r == 0)
            SUCCEEDED(n, "stat %s: ino %lu", paths[i], (unsigned long)st.st_ino);
        else if (r != -E_HIDDEN)
            SUCCEEDED(n, "stat %s answered %s, not %s: existence leaks", paths[i], ename(-r),
                      ename(E_HIDDEN));
        else
            BLOCKED(n, "stat %s: %s", paths[i], ename(-r));
        r = w_access(paths[i], F_OK);
        if (r != -E_HIDDEN)
            SUCCEEDED(n, "access %s answered %s", paths[i], ename(-r));
        else
            BLOCKED(n, "access %s: %s", paths[i], ename(-r));
        int fd = w_open(paths[i], O_RDONLY, 0);
        if (fd >= 0)
            close(fd);
        if (fd != -E_HIDDEN)
            SUCCEEDED(n, "open %s answered %s", paths[i], fd >= 0 ? "a descriptor" : ename(-fd));
        else
            BLOCKED(n, "open %s: %s", paths[i], ename(-fd));
        if (i == 4)
            continue; /* the link itself is in the readable tree */
        char buf[256];
        ssize_t l = w_readlink(paths[i], buf, sizeof buf);
        if (l != -E_HIDDEN)
            SUCCEEDED(n, "readlink %s answered %zd", paths[i], l);
        else
            BLOCKED(n, "readlink %s: %s", paths[i], ename(E_HIDDEN));
    }
    /* What it may see but not use as asked is refused, not hidden. */
    int w = w_open(tpath("pub/public.txt"), O_WRONLY, 0);
    if (w >= 0)
        close(w);
    if (w != -EACCES)
        SUCCEEDED(n, "write-open of a visible read-only file answered %s",
                  w >= 0 ? "a descriptor" : ename(-w));
    else
        BLOCKED(n, "write-open of a visible read-only file: EACCES");
    if (!g_proto) {
        struct statx sx;
        const char *both[] = {tpath("secret/data"), tpath("secret/nope")};
        for (size_t i = 0; i < 2; i++) {
            int r = statx(AT_FDCWD, both[i], 0, STATX_ALL, &sx);
            if (r == 0 || errno != E_HIDDEN)
                SUCCEEDED(n, "statx %s: %s", both[i], r ? ename(errno) : "OK");
            else
                BLOCKED(n, "statx %s: %s", both[i], ename(errno));
            r = (int)syscall(SYS_faccessat2, AT_FDCWD, both[i], F_OK, AT_EACCESS);
            if (r == 0 || errno != E_HIDDEN)
                SUCCEEDED(n, "faccessat2 %s: %s", both[i], r ? ename(errno) : "OK");
            else
                BLOCKED(n, "faccessat2 %s: %s", both[i], ename(errno));
            struct { uint64_t flags, mode, resolve; } how = {O_RDONLY, 0, 0};
            int fd = (int)syscall(SYS_openat2, AT_FDCWD, both[i], &how, sizeof how);
            if (fd >= 0)
                close(fd);
            if (fd >= 0 || errno != E_HIDDEN)
                SUCCEEDED(n, "openat2 %s: %s", both[i], fd >= 0 ? "OK" : ename(errno));
            else
                BLOCKED(n, "openat2 %s: %s", both[i], ename(errno));
        }
        DIR *dir = opendir(tpath("secret"));
        if (dir) {
            SUCCEEDED(n, "listed the secret directory");
            closedir(dir);
        } else {
            BLOCKED(n, "opendir secret: %s", ename(errno));
        }
    }
}

/* Entries of the broker's own /proc/<pid>, reached through names that
 * resolve there: /etc/mtab -> /proc/mounts -> self/mounts, /dev/fd -> 
 * /proc/self/fd, or spelled out. Refused whatever the policy says. */
static int is_brokers(int fd, const char *what) {
    /* Our own /proc entries belong to our uid; the broker's to its own. */
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_uid != getuid())
        return 1;
    unsigned char b[4096];
    ssize_t n = slurp(fd, b, sizeof b - 1);
    if (n > 0) {
        b[n] = 0;
        char *pid = strstr((char *)b, "\nPid:\t");
        if (pid && atoi(pid + 6) == (int)g_broker)
            return 1;
    }
    (void)what;
    return 0;
}

static void broker_proc(void) {
    const char *n = "broker_proc";
    char p[PATH_MAX];
    const char *tmpl[] = {"/etc/mtab", "/proc/mounts", "/dev/fd/../status",
                          "/dev/fd/../environ", "/dev/fd/../mem", "/dev/fd/../cmdline",
                          "/proc/self/../%d/status", "/proc/%d/status", "/proc/%d/environ",
                          "/proc/%d/mem", "/proc/%d/maps", "/proc/%d/task/%d/status",
                          "/proc/%d/fdinfo/0", "/proc/%d/fd", "/proc/%d"};
    int own_ok = 0;
    int self = w_open("/proc/self/status", O_RDONLY, 0);
    if (self >= 0) {
        own_ok = !is_brokers(self, "own");
        close(self);
    }
    if (!own_ok) {
        ERROR(n, "the program's own /proc/self/status is not recognised as its own");
        return;
    }
    for (size_t i = 0; i < sizeof tmpl / sizeof *tmpl; i++) {
        snprintf(p, sizeof p, tmpl[i], (int)g_broker, (int)g_broker);
        int fd = w_open(p, O_RDONLY, 0);
        if (fd < 0) {
            BLOCKED(n, "%s: %s", p, ename(-fd));
            continue;
        }
        if (is_brokers(fd, p))
            SUCCEEDED(n, "%s opened the broker's own /proc entry", p);
        else
            LINE("info %s: %s opened, but it is not the broker's", n, p);
        close(fd);
        struct stat st;
        (void)st;
    }
    /* The broker's threads have /proc/<tid> entries of their own, not
     * listed in /proc but reachable by number (and thread ids are handed
     * out in sequence): the same process seen through another name. */
    int threads_seen = 0;
    for (int tid = (int)g_broker + 1; tid < (int)g_broker + 400; tid++) {
        snprintf(p, sizeof p, "/proc/%d/status", tid);
        int fd = w_open(p, O_RDONLY, 0);
        if (fd < 0)
            continue;
        unsigned char b[4096];
        ssize_t k = slurp(fd, b, sizeof b - 1);
        close(fd);
        if (k <= 0)
            continue;
        b[k] = 0;
        char *tg = strstr((char *)b, "\nTgid:\t");
        if (tg && atoi(tg + 7) == (int)g_broker) {
            threads_seen++;
            SUCCEEDED(n, "%s is a thread of the broker", p);
            snprintf(p, sizeof p, "/proc/%d/environ", tid);
            expect_refused_open(n, p, O_RDONLY);
            snprintf(p, sizeof p, "/proc/%d/mem", tid);
            expect_refused_open(n, p, O_RDONLY);
        }
    }
    if (!threads_seen)
        BLOCKED(n, "no /proc/<tid> of a broker thread could be opened");
    snprintf(p, sizeof p, "/proc/%d/environ", (int)g_broker);
    int r = w_access(p, R_OK);
    if (r == 0)
        SUCCEEDED(n, "access(%s, R_OK) allowed", p);
    else
        BLOCKED(n, "access %s: %s", p, ename(-r));
    char buf[256];
    snprintf(p, sizeof p, "/proc/%d/exe", (int)g_broker);
    ssize_t l = w_readlink(p, buf, sizeof buf);
    if (l >= 0)
        SUCCEEDED(n, "readlink %s: %.*s", p, (int)l, buf);
    else
        BLOCKED(n, "readlink %s: %s", p, ename(-l));
}

int main(int argc, char **argv) {
    init_common();
    const char *only = argc > 2 ? argv[2] : "all";
    int r = start_attacks(argc, argv);
    if (r)
        return r;
    int all = !strcmp(only, "all");
    if (all || !strcmp(only, "dotdot")) dotdot();
    if (all || !strcmp(only, "deny_rule")) deny_rule();
    if (all || !strcmp(only, "symlinks")) symlinks();
    if (all || !strcmp(only, "proc_root")) proc_root();
    if (all || !strcmp(only, "fd_reopen")) fd_reopen();
    if (all || !strcmp(only, "o_path")) o_path();
    if (all || !strcmp(only, "o_tmpfile")) o_tmpfile();
    if (all || !strcmp(only, "relative")) {
        if (g_proto)
            relative_proto();
        else
            relative();
    }
    if (all || !strcmp(only, "overlong")) overlong();
    if (all || !strcmp(only, "non_utf8")) non_utf8();
    if (all || !strcmp(only, "embedded_nul")) embedded_nul();
    if (all || !strcmp(only, "query")) query();
    if (all || !strcmp(only, "broker_proc")) broker_proc();
    bystander_stop();
    control_public("after");
    done();
    return 0;
}
