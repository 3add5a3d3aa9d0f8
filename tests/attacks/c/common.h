/*
 * Shared by the attack programs of tests/attacks (compiled at test time with
 * the machine's gcc; see tests/attacks/main.rs).
 *
 * Each program plays a fully compromised child: it tries to reach a secret
 * file or a protected process and reports, one line each on stdout:
 *
 *   ready <ppid>              set up; waits for a line on stdin ("go")
 *   blocked <attack>: <how>   the attempt failed as it must
 *   SUCCEEDED <attack>: <what> the attempt got through (the test fails)
 *   skip <attack>: <why>      the kernel lacks what the attack needs
 *   error <attack>: <what>    the program itself could not run the attack
 *   control <what> ok|FAILED  a legitimate request made as a sanity check
 *   read <attack>: <bytes>    whatever an open that should have failed gave
 *   done                      finished; waits for a line on stdin ("end")
 *
 * The runner also looks for the secret's random token anywhere in the output,
 * checks protected files on disk, the broker's descriptors and liveness.
 *
 * Two ways in: "sys" uses ordinary system calls (brokered by `fdbroker run`
 * through seccomp user notification), "proto" speaks the wire protocol of
 * docs/protocol.md on FDBROKER_FD, written from that document alone.
 */
#ifndef ATTACKS_COMMON_H
#define ATTACKS_COMMON_H

#define _GNU_SOURCE
/* Each program uses some of these helpers. */
#pragma GCC diagnostic ignored "-Wunused-function"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ reporting */

static void esc_print(const unsigned char *b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = b[i];
        if (c >= 0x20 && c < 0x7f && c != '\\')
            putchar(c);
        else
            printf("\\x%02x", c);
    }
}

#define LINE(...)                                                              \
    do {                                                                       \
        printf(__VA_ARGS__);                                                   \
        putchar('\n');                                                         \
        fflush(stdout);                                                        \
    } while (0)
#define BLOCKED(name, ...)                                                     \
    do {                                                                       \
        printf("blocked %s: ", name);                                          \
        LINE(__VA_ARGS__);                                                     \
    } while (0)
#define SUCCEEDED(name, ...)                                                   \
    do {                                                                       \
        printf("SUCCEEDED %s: ", name);                                        \
        LINE(__VA_ARGS__);                                                     \
    } while (0)
#define SKIP(name, ...)                                                        \
    do {                                                                       \
        printf("skip %s: ", name);                                             \
        LINE(__VA_ARGS__);                                                     \
    } while (0)
#define ERROR(name, ...)                                                       \
    do {                                                                       \
        printf("error %s: ", name);                                            \
        LINE(__VA_ARGS__);                                                     \
    } while (0)

static const char *ename(int e) {
    switch (e) {
    case 0: return "OK";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case ESRCH: return "ESRCH";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case EXDEV: return "EXDEV";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EINVAL: return "EINVAL";
    case EMFILE: return "EMFILE";
    case ENOTTY: return "ENOTTY";
    case ENOSPC: return "ENOSPC";
    case EROFS: return "EROFS";
    case EMLINK: return "EMLINK";
    case EPIPE: return "EPIPE";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ENOSYS: return "ENOSYS";
    case ELOOP: return "ELOOP";
    case ENODATA: return "ENODATA";
    case EPROTO: return "EPROTO";
    case ENOTSOCK: return "ENOTSOCK";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EADDRINUSE: return "EADDRINUSE";
    case ECONNREFUSED: return "ECONNREFUSED";
    case EISCONN: return "EISCONN";
    case ENOTCONN: return "ENOTCONN";
    case E2BIG: return "E2BIG";
    case ENXIO: return "ENXIO";
    case ECHILD: return "ECHILD";
    case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
    case ESOCKTNOSUPPORT: return "ESOCKTNOSUPPORT";
    case ENOTEMPTY: return "ENOTEMPTY";
    case EMSGSIZE: return "EMSGSIZE";
    default: {
        static char buf[32];
        snprintf(buf, sizeof buf, "errno%d", e);
        return buf;
    }
    }
}

/* ---------------------------------------------------------- environment */

static const char *g_root;  /* ATTACK_ROOT: the test tree */
static int g_control;       /* ATTACK_CONTROL=1: run unconfined, for the control */
static pid_t g_broker;      /* the broker's pid (the victim's in control runs) */
static pid_t g_victim;      /* ATTACK_VICTIM: an unrelated process */

/* A path in the tree. Not for threads: the result lives in one of 16
 * rotating buffers. */
static char *tpath(const char *rel) {
    static char bufs[16][PATH_MAX];
    static int next;
    char *b = bufs[next++ % 16];
    snprintf(b, PATH_MAX, "%s/%s", g_root, rel);
    return b;
}

static void init_common(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    g_root = getenv("ATTACK_ROOT");
    if (!g_root) {
        LINE("error setup: ATTACK_ROOT is not set");
        exit(2);
    }
    g_control = getenv("ATTACK_CONTROL") && !strcmp(getenv("ATTACK_CONTROL"), "1");
    g_victim = getenv("ATTACK_VICTIM") ? (pid_t)atoi(getenv("ATTACK_VICTIM")) : 0;
    g_broker = g_control ? g_victim : getppid();
}

/* Reads one line (or up to end of file) from the runner into `buf`. */
static void read_line(char *buf, size_t size) {
    size_t n = 0;
    buf[0] = 0;
    if (getenv("ATTACK_NOHANDSHAKE"))
        return;
    /* One line or end of file; the runner writes "go <broker>\n" / "end\n". */
    while (n + 1 < size) {
        ssize_t r = read(0, buf + n, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || buf[n] == '\n')
            break;
        n++;
    }
    buf[n] = 0;
}

static void wait_line(void) {
    char buf[64];
    read_line(buf, sizeof buf);
}

/* The runner answers "go <pid>": the broker's pid as the runner sees it,
 * which getppid() no longer is when the sandbox has a PID namespace of its
 * own (the parent is then the sandbox's init). */
static void ready(void) {
    LINE("ready %d", (int)getppid());
    char buf[64];
    read_line(buf, sizeof buf);
    if (!g_control && !strncmp(buf, "go ", 3) && atoi(buf + 3) > 0)
        g_broker = (pid_t)atoi(buf + 3);
}

static void done(void) {
    LINE("done");
    wait_line();
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---------------------------------------------------- the wire protocol */
/* docs/protocol.md, version 1: packed, native byte order. */

#define OP_OPEN 1
#define OP_STAT 2
#define OP_ACCESS 3
#define OP_READLINK 4
#define SCM_MAX_FD 253

/* What every operation on a path the program may not even stat answers,
 * whether it exists or not: it looks absent. (A path it may see but not use
 * as asked answers EACCES.) */
#define E_HIDDEN ENOENT

struct req_hdr {
    uint16_t version;
    uint16_t op;
    uint32_t id;
    int32_t flags;
    uint32_t mode;
    uint32_t path_len;
    uint32_t reserved;
} __attribute__((packed));

struct rep_hdr {
    uint16_t version;
    uint8_t op;
    uint8_t nfds;
    uint32_t id;
    int32_t error;
    uint32_t data_len;
} __attribute__((packed));

_Static_assert(sizeof(struct req_hdr) == 24, "request header");
_Static_assert(sizeof(struct rep_hdr) == 16, "reply header");

static int g_sock = -1; /* FDBROKER_FD */
static uint32_t g_next_id;

/* FDBROKER_FD, checked to be an AF_UNIX SOCK_SEQPACKET socket. */
static int broker_sock(void) {
    if (g_sock >= 0)
        return g_sock;
    const char *s = getenv("FDBROKER_FD");
    if (!s)
        return -1;
    int fd = atoi(s);
    int dom = 0, type = 0;
    socklen_t l = sizeof dom;
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &l) || dom != AF_UNIX)
        return -1;
    l = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) || type != SOCK_SEQPACKET)
        return -1;
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    g_sock = fd;
    return fd;
}

/* Sends one raw record, with optional descriptors attached. */
static ssize_t send_raw(int sock, const void *buf, size_t len, const int *fds, int nfds) {
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    char cbuf[CMSG_SPACE(sizeof(int) * SCM_MAX_FD)];
    if (nfds > 0) {
        memset(cbuf, 0, sizeof cbuf);
        m.msg_control = cbuf;
        m.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    ssize_t r;
    do
        r = sendmsg(sock, &m, MSG_NOSIGNAL);
    while (r < 0 && errno == EINTR);
    return r;
}

/* One reply as received: header fields, payload and the descriptors that
 * came with it (all of them taken into our care first). */
struct reply {
    struct rep_hdr h;
    unsigned char data[4096];
    size_t len; /* bytes of the whole record */
    int fds[SCM_MAX_FD];
    int nfds;
    int truncated;
};

/* Receives one reply; -errno on failure, 0 at end of stream, else 1. */
static int recv_reply(int sock, struct reply *r) {
    unsigned char buf[16 + 4096 + 1];
    char cbuf[CMSG_SPACE(sizeof(int) * SCM_MAX_FD)];
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                       .msg_controllen = sizeof cbuf};
    ssize_t n;
    do
        n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    r->nfds = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            int k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (int i = 0; i < k && r->nfds < SCM_MAX_FD; i++)
                memcpy(&r->fds[r->nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        }
    }
    r->truncated = (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0;
    r->len = (size_t)n;
    if (n == 0)
        return 0;
    if ((size_t)n >= sizeof r->h)
        memcpy(&r->h, buf, sizeof r->h);
    else
        memset(&r->h, 0, sizeof r->h);
    size_t dl = (size_t)n > 16 ? (size_t)n - 16 : 0;
    if (dl > sizeof r->data)
        dl = sizeof r->data;
    memcpy(r->data, buf + 16, dl);
    return 1;
}

static void close_reply_fds(struct reply *r) {
    for (int i = 0; i < r->nfds; i++)
        close(r->fds[i]);
    r->nfds = 0;
}

/* Checks a reply as docs/protocol.md asks; returns a reason or NULL. */
static const char *reply_problem(const struct reply *r, uint16_t op, uint32_t id) {
    if (r->truncated)
        return "truncated";
    if (r->len < 16)
        return "short";
    if (r->h.version != 1)
        return "version";
    if (r->h.data_len != r->len - 16)
        return "data_len";
    if (r->h.nfds != r->nfds)
        return "nfds";
    if (op && r->h.op != op)
        return "op";
    if (r->h.id != id)
        return "id";
    if (r->h.error != 0 && (r->nfds || r->h.data_len))
        return "error with payload";
    return NULL;
}

/* Encodes a request; returns its length. */
static size_t make_request(unsigned char *out, uint16_t op, uint32_t id, int flags,
                           uint32_t mode, const void *path, size_t plen) {
    struct req_hdr h = {.version = 1, .op = op, .id = id, .flags = flags,
                        .mode = mode, .path_len = (uint32_t)plen, .reserved = 0};
    memcpy(out, &h, sizeof h);
    memcpy(out + sizeof h, path, plen);
    return sizeof h + plen;
}

/* One request/reply exchange. Returns 0 or -errno; on a successful open
 * *fd gets the descriptor; data/data_len get the payload. A malformed reply
 * is -EPROTO (and reported as an error line). */
static int proto_call(uint16_t op, const void *path, size_t plen, int flags, uint32_t mode,
                      int *fd, void *data, size_t *data_len) {
    int sock = broker_sock();
    if (sock < 0)
        return -ENOTSOCK;
    unsigned char buf[24 + 4096];
    if (plen > 4096)
        return -ENAMETOOLONG;
    uint32_t id = ++g_next_id;
    size_t n = make_request(buf, op, id, flags, mode, path, plen);
    if (send_raw(sock, buf, n, NULL, 0) < 0)
        return -errno;
    static struct reply r;
    int got = recv_reply(sock, &r);
    if (got <= 0)
        return got ? got : -EPIPE;
    const char *bad = reply_problem(&r, op, id);
    if (bad) {
        ERROR("protocol", "malformed reply to request %u: %s", id, bad);
        close_reply_fds(&r);
        return -EPROTO;
    }
    if (r.h.error) {
        close_reply_fds(&r);
        return -r.h.error;
    }
    if (fd) {
        *fd = r.nfds ? r.fds[0] : -1;
        for (int i = 1; i < r.nfds; i++)
            close(r.fds[i]);
        r.nfds = 0;
    } else {
        close_reply_fds(&r);
    }
    if (data && data_len) {
        size_t dl = r.h.data_len < *data_len ? r.h.data_len : *data_len;
        memcpy(data, r.data, dl);
        *data_len = dl;
    }
    return 0;
}

/* ------------------------------------------- one API for both ways in */

static int g_proto; /* 1: speak the protocol; 0: plain system calls */

/* open(2) through the chosen way: a descriptor or -errno. */
static int w_open_len(const char *path, size_t plen, int flags, mode_t mode) {
    if (g_proto) {
        int fd = -1;
        int r = proto_call(OP_OPEN, path, plen, flags, mode, &fd, NULL, NULL);
        return r < 0 ? r : fd;
    }
    int fd = (int)syscall(SYS_openat, AT_FDCWD, path, flags, mode);
    return fd < 0 ? -errno : fd;
}

static int w_open(const char *path, int flags, mode_t mode) {
    return w_open_len(path, strlen(path), flags, mode);
}

/* stat(2): 0 or -errno; st_ino and st_uid are filled in. */
static int w_stat(const char *path, int follow, struct stat *st) {
    if (g_proto) {
        uint64_t f[16];
        size_t dl = sizeof f;
        int r = proto_call(OP_STAT, path, strlen(path), follow ? 0 : AT_SYMLINK_NOFOLLOW, 0,
                           NULL, f, &dl);
        if (r < 0)
            return r;
        if (dl != sizeof f)
            return -EPROTO;
        memset(st, 0, sizeof *st);
        st->st_dev = f[0];
        st->st_ino = f[1];
        st->st_mode = f[2];
        st->st_uid = f[4];
        st->st_size = (off_t)f[7];
        return 0;
    }
    int r = follow ? stat(path, st) : lstat(path, st);
    return r < 0 ? -errno : 0;
}

static int w_access(const char *path, int amode) {
    if (g_proto)
        return proto_call(OP_ACCESS, path, strlen(path), 0, (uint32_t)amode, NULL, NULL, NULL);
    return access(path, amode) < 0 ? -errno : 0;
}

/* readlink(2): length or -errno. */
static ssize_t w_readlink(const char *path, char *buf, size_t size) {
    if (g_proto) {
        size_t dl = size;
        int r = proto_call(OP_READLINK, path, strlen(path), 0, 0, NULL, buf, &dl);
        return r < 0 ? r : (ssize_t)dl;
    }
    ssize_t n = readlink(path, buf, size);
    return n < 0 ? -errno : n;
}

/* Reads what a descriptor gives (at most 256 bytes, from offset 0). */
static ssize_t slurp(int fd, unsigned char *buf, size_t size) {
    /* Never block: the descriptor may be a pipe or a FIFO. */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    ssize_t n = pread(fd, buf, size, 0);
    if (n < 0)
        n = read(fd, buf, size);
    return n;
}

static int has_secret(const unsigned char *b, size_t n) {
    return memmem(b, n, "SECRET", 6) != NULL;
}

/*
 * An open that must be refused: reports blocked on failure; on success
 * reads the descriptor, prints what it got, and reports SUCCEEDED.
 */
static void expect_refused_fd(const char *name, const char *what, int fd) {
    if (fd < 0) {
        BLOCKED(name, "%.160s: %s", what, ename(-fd));
        return;
    }
    unsigned char buf[256];
    ssize_t n = slurp(fd, buf, sizeof buf);
    printf("read %s: ", name);
    if (n > 0)
        esc_print(buf, (size_t)n);
    putchar('\n');
    SUCCEEDED(name, "%.160s: got a descriptor (%zd bytes readable%s)", what, n,
              n > 0 && has_secret(buf, (size_t)n) ? ", the secret" : "");
    close(fd);
}

static void expect_refused_open(const char *name, const char *path, int flags) {
    expect_refused_fd(name, path, w_open(path, flags, 0));
}

/* A legitimate request: the public file must still be served. */
static void control_public(const char *what) {
    int fd = w_open(tpath("pub/public.txt"), O_RDONLY | O_CLOEXEC, 0);
    unsigned char buf[64];
    ssize_t n = fd >= 0 ? slurp(fd, buf, sizeof buf) : -1;
    if (fd >= 0)
        close(fd);
    if (n >= 6 && !memcmp(buf, "PUBLIC", 6))
        LINE("control %s ok", what);
    else
        LINE("control %s FAILED: %s", what, fd < 0 ? ename(-fd) : "wrong content");
}

/* ------------------------------------------------------------ bystander */

static void bystander_start(void);

/*
 * The usual start of an attack program: the way in (argv[1]: "sys" or
 * "proto"), a legitimate request, the handshake, and the bystander (not in a
 * control run). Returns 0, or 2 when "proto" was asked for without a socket.
 */
static int start_attacks(int argc, char **argv) {
    g_proto = argc > 1 && !strcmp(argv[1], "proto");
    if (g_proto && broker_sock() < 0) {
        ERROR("setup", "FDBROKER_FD is not a seqpacket socket");
        return 2;
    }
    control_public("before");
    ready();
    if (!g_control)
        bystander_start();
    return 0;
}
/*
 * Another process of the same sandbox that keeps making ordinary brokered
 * calls while the attack runs: an attack must not stop the broker from
 * serving it. Plain system calls only (FDBROKER_FD is one connection, and
 * sharing it would mix up replies).
 */

static pid_t g_by_pid = -1;
static int g_by_stop = -1, g_by_res = -1;

static void bystander_start(void) {
    int stop[2], res[2];
    if (pipe2(stop, O_CLOEXEC) || pipe2(res, O_CLOEXEC)) {
        ERROR("bystander", "pipe: %s", ename(errno));
        return;
    }
    fflush(stdout);
    /* Blocked across the fork, so that an attack's signal cannot reach the
       bystander before it has ignored it. */
    sigset_t usr, old;
    sigemptyset(&usr);
    sigaddset(&usr, SIGUSR1);
    sigaddset(&usr, SIGUSR2);
    sigprocmask(SIG_BLOCK, &usr, &old);
    pid_t p = fork();
    if (p != 0)
        sigprocmask(SIG_SETMASK, &old, NULL);
    if (p < 0) {
        ERROR("bystander", "fork: %s", ename(errno));
        return;
    }
    if (p == 0) {
        signal(SIGUSR1, SIG_IGN);
        signal(SIGUSR2, SIG_IGN);
        sigprocmask(SIG_SETMASK, &old, NULL);
        close(stop[1]);
        close(res[0]);
        fcntl(stop[0], F_SETFL, O_NONBLOCK);
        long ok = 0, bad = 0;
        char why[128] = "";
        for (long i = 0; i < 200000; i++) {
            char c;
            int last = read(stop[0], &c, 1) == 1 || (errno != EAGAIN && errno != EINTR);
            int fd = (int)syscall(SYS_openat, AT_FDCWD, tpath("pub/public.txt"), O_RDONLY, 0);
            unsigned char b[16];
            ssize_t n = fd >= 0 ? pread(fd, b, sizeof b, 0) : -1;
            if (fd >= 0)
                close(fd);
            struct stat st;
            int s = stat(tpath("pub/public.txt"), &st);
            int sec = (int)syscall(SYS_openat, AT_FDCWD, tpath("secret/data"), O_RDONLY, 0);
            int sec_errno = errno;
            if (sec >= 0)
                close(sec);
            if (n >= 6 && !memcmp(b, "PUBLIC", 6) && s == 0 && sec < 0 && sec_errno == E_HIDDEN) {
                ok++;
            } else {
                bad++;
                snprintf(why, sizeof why, "open %s, stat %d, secret %s",
                         fd < 0 ? "failed" : "ok", s, sec >= 0 ? "OPENED" : ename(sec_errno));
            }
            if (last)
                break;
            usleep(2000);
        }
        dprintf(res[1], "%ld %ld %s\n", ok, bad, why);
        _exit(0);
    }
    close(stop[0]);
    close(res[1]);
    g_by_pid = p;
    g_by_stop = stop[1];
    g_by_res = res[0];
}

/* Stops the bystander after one more round and reports how it was served. */
static void bystander_stop(void) {
    if (g_by_pid < 0)
        return;
    (void)!write(g_by_stop, "q", 1);
    close(g_by_stop);
    char buf[256] = "";
    ssize_t n = 0, r;
    while (n < (ssize_t)sizeof buf - 1 && (r = read(g_by_res, buf + n, sizeof buf - 1 - n)) > 0)
        n += r;
    buf[n] = 0;
    close(g_by_res);
    int status = 0;
    waitpid(g_by_pid, &status, 0);
    g_by_pid = -1;
    long ok = 0, bad = 0;
    char why[160] = "";
    if (sscanf(buf, "%ld %ld %159[^\n]", &ok, &bad, why) < 2) {
        LINE("bystander FAILED: no report (status %#x)", status);
    } else if (ok > 0 && bad == 0) {
        LINE("bystander ok: served %ld rounds", ok);
    } else {
        LINE("bystander FAILED: %ld rounds served, %ld not (%s)", ok, bad, why);
    }
}

#endif
