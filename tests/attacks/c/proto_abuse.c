/*
 * Protocol abuse on FDBROKER_FD: what a hostile child can send the broker.
 *
 *   proto_abuse all|garbage|truncated|oversized|fds|flood|threads|dies...
 *   proto_abuse bystander      keep making requests until stdin closes
 *
 * Every record must get exactly one well-formed reply, the connection must
 * keep working, no descriptor may come back that was not asked for, and the
 * broker must not keep the descriptors we attach (the runner counts its
 * /proc/<pid>/fd). A FIFO opened by a request blocks the broker's open until
 * someone writes: the runner keeps opening T/pub/fifo for writing meanwhile.
 */
#include "common.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/eventfd.h>

static unsigned long g_rng = 88172645463325252UL;
static unsigned long rnd(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

/* Waits for one reply, with a guard against a broker that never answers. */
static int recv_guarded(int sock, struct reply *r, const char *name) {
    struct pollfd p = {.fd = sock, .events = POLLIN};
    int k = poll(&p, 1, 30000);
    if (k <= 0) {
        ERROR(name, "no reply within 30 s");
        return -ETIMEDOUT;
    }
    return recv_reply(sock, r);
}

/* Sends a record and checks that one well-formed error reply comes back.
 * Returns the error, or -1 if the exchange itself failed. */
static int bad_record(const char *name, const void *buf, size_t len, const int *fds, int nfds) {
    int sock = broker_sock();
    if (send_raw(sock, buf, len, fds, nfds) < 0) {
        if (errno == EMSGSIZE || errno == ENOBUFS)
            return -2; /* the kernel would not take it: nothing reached the broker */
        ERROR(name, "sendmsg of %zu bytes: %s", len, ename(errno));
        return -1;
    }
    static struct reply r;
    int got = recv_guarded(sock, &r, name);
    if (got <= 0) {
        ERROR(name, "connection lost after a %zu-byte record: %s", len, got ? ename(-got) : "EOF");
        return -1;
    }
    int err = r.h.error;
    if (r.nfds) {
        SUCCEEDED(name, "a malformed %zu-byte record got %d descriptors back", len, r.nfds);
        close_reply_fds(&r);
    }
    if (r.truncated || r.len < 16 || r.h.version != 1 || r.h.data_len != r.len - 16 ||
        r.h.nfds != 0) {
        ERROR(name, "malformed reply to a bad record (len %zu)", r.len);
        return -1;
    }
    return err;
}

static void expect_err(const char *name, const char *what, int got, int want1, int want2) {
    if (got == want1 || got == want2)
        BLOCKED(name, "%s: %s", what, ename(got));
    else if (got == 0)
        SUCCEEDED(name, "%s: accepted", what);
    else if (got > 0)
        ERROR(name, "%s: %s, expected %s", what, ename(got), ename(want1));
}

static void garbage(void) {
    const char *n = "garbage";
    static unsigned char buf[5000];
    int rounds = 0, ok = 0;
    for (int i = 0; i < 400; i++) {
        size_t len = rnd() % sizeof buf;
        for (size_t k = 0; k < len; k++)
            buf[k] = (unsigned char)rnd();
        if (i % 2 && len >= 24) {
            /* A plausible header, so that the decoder gets further in. */
            struct req_hdr *h = (struct req_hdr *)buf;
            h->version = 1;
            h->op = (uint16_t)(1 + rnd() % 5);
            h->path_len = (uint32_t)(i % 4 ? len - 24 : rnd() % 5000);
            h->reserved = i % 8 == 1 ? 1 : 0;
            if (len > 24)
                buf[24] = '/';
        }
        if (i == 0)
            len = 0; /* an empty record */
        int e = bad_record(n, buf, len, NULL, 0);
        if (e == -1)
            return;
        rounds++;
        ok += e > 0;
    }
    BLOCKED(n, "%d random records, each answered (%d with an error)", rounds, ok);
}

static void truncated(void) {
    const char *n = "truncated";
    unsigned char buf[256];
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", tpath("pub/public.txt"));
    size_t plen = strlen(path);
    size_t full = make_request(buf, OP_OPEN, 7, O_RDONLY, 0, path, plen);
    expect_err(n, "1 byte", bad_record(n, buf, 1, NULL, 0), EPROTO, 0);
    expect_err(n, "23 bytes", bad_record(n, buf, 23, NULL, 0), EPROTO, 0);
    expect_err(n, "header only", bad_record(n, buf, 24, NULL, 0), EPROTO, 0);
    expect_err(n, "path cut short", bad_record(n, buf, full - 3, NULL, 0), EPROTO, 0);
    struct req_hdr *h = (struct req_hdr *)buf;
    h->path_len = 0xffffffffu;
    expect_err(n, "path_len 2^32-1", bad_record(n, buf, full, NULL, 0), EPROTO, 0);
    h->path_len = (uint32_t)plen;
    h->version = 2;
    expect_err(n, "version 2", bad_record(n, buf, full, NULL, 0), EPROTO, 0);
    h->version = 0;
    expect_err(n, "version 0", bad_record(n, buf, full, NULL, 0), EPROTO, 0);
    h->version = 1;
    h->reserved = 1;
    expect_err(n, "reserved 1", bad_record(n, buf, full, NULL, 0), EPROTO, 0);
    h->reserved = 0;
    h->op = 0;
    expect_err(n, "op 0", bad_record(n, buf, full, NULL, 0), EINVAL, 0);
    h->op = 0xffff;
    expect_err(n, "op 65535", bad_record(n, buf, full, NULL, 0), EINVAL, 0);
    h->op = OP_OPEN;
    h->flags = O_PATH;
    expect_err(n, "open O_PATH", bad_record(n, buf, full, NULL, 0), EINVAL, 0);
    h->flags = (int32_t)0xffffffff;
    expect_err(n, "open with every flag", bad_record(n, buf, full, NULL, 0), EINVAL, 0);
    h->flags = O_CREAT | O_WRONLY;
    h->mode = 0104777;
    expect_err(n, "mode with a file type", bad_record(n, buf, full, NULL, 0), EINVAL, 0);
    h->flags = O_RDONLY;
    h->mode = 0;
    h->op = OP_STAT;
    h->flags = 0x1000;
    expect_err(n, "stat with a bad flag", bad_record(n, buf, full, NULL, 0), EINVAL, 0);
    h->op = OP_ACCESS;
    h->flags = 0;
    h->mode = 0x80000000u;
    expect_err(n, "access with a negative mode", bad_record(n, buf, full, NULL, 0), EINVAL, 0);
    h->op = OP_READLINK;
    h->mode = 1;
    expect_err(n, "readlink with a mode", bad_record(n, buf, full, NULL, 0), EINVAL, 0);
    /* Relative, empty, and a NUL inside: well-framed but invalid. */
    size_t l = make_request(buf, OP_OPEN, 8, O_RDONLY, 0, "pub/public.txt", 14);
    expect_err(n, "relative path", bad_record(n, buf, l, NULL, 0), EINVAL, 0);
    l = make_request(buf, OP_OPEN, 9, O_RDONLY, 0, "", 0);
    expect_err(n, "empty path", bad_record(n, buf, l, NULL, 0), EINVAL, EPROTO);
    l = make_request(buf, OP_OPEN, 10, O_RDONLY, 0, "/etc\0/x", 7);
    expect_err(n, "NUL in the path", bad_record(n, buf, l, NULL, 0), EINVAL, 0);
}

static void oversized(void) {
    const char *n = "oversized";
    size_t sizes[] = {24 + 4096, 8192, 65536, 200000, 1 << 20};
    static unsigned char big[1 << 20];
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        size_t len = sizes[i];
        memset(big, '/', len);
        make_request(big, OP_OPEN, 11, O_RDONLY, 0, "/", 1);
        ((struct req_hdr *)big)->path_len = (uint32_t)(len - 24);
        int e = bad_record(n, big, len, NULL, 0);
        char what[64];
        snprintf(what, sizeof what, "%zu-byte record", len);
        if (e == -2)
            BLOCKED(n, "%s: the kernel refused to send it", what);
        else if (e >= 0)
            expect_err(n, what, e, EPROTO, 0);
        else
            return;
    }
}

static void fds(void) {
    const char *n = "attached_fds";
    int p[2];
    if (pipe(p)) {
        ERROR(n, "pipe");
        return;
    }
    int list[SCM_MAX_FD];
    int k = 0;
    /* A socket pair with a descriptor of its own in flight: the broker must
     * close what it cannot use without tripping over the unix GC. */
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == 0) {
        send_raw(sv[1], "x", 1, &sv[0], 1);
        list[k++] = sv[0];
        list[k++] = sv[1];
    }
    int ev = eventfd(0, 0);
    if (ev >= 0)
        list[k++] = ev;
    int mf = (int)syscall(SYS_memfd_create, "m", 0);
    if (mf >= 0)
        list[k++] = mf;
    list[k++] = broker_sock(); /* our own end of the connection */
    while (k < SCM_MAX_FD) {
        int d = dup(p[k % 2]);
        if (d < 0)
            break;
        list[k++] = d;
    }
    unsigned char buf[256];
    size_t l = make_request(buf, OP_OPEN, 12, O_RDONLY, 0, tpath("pub/public.txt"),
                            strlen(tpath("pub/public.txt")));
    int rounds = 0;
    for (int i = 0; i < 60; i++) {
        int nf = i % 3 == 0 ? k : 1 + (int)(rnd() % (unsigned)k);
        int e = bad_record(n, buf, i % 2 ? l : 10, list, nf);
        if (e == -1)
            return;
        if (e != EPROTO)
            ERROR(n, "a record with %d descriptors got %s, expected EPROTO", nf, ename(e));
        rounds++;
    }
    /* SCM_CREDENTIALS is ancillary data too. */
    struct iovec iov = {buf, l};
    char cbuf[CMSG_SPACE(sizeof(struct ucred))];
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                       .msg_controllen = sizeof cbuf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_CREDENTIALS;
    c->cmsg_len = CMSG_LEN(sizeof(struct ucred));
    struct ucred cr = {getpid(), getuid(), getgid()};
    memcpy(CMSG_DATA(c), &cr, sizeof cr);
    if (sendmsg(broker_sock(), &m, 0) > 0) {
        static struct reply r;
        if (recv_guarded(broker_sock(), &r, n) > 0) {
            if (r.nfds)
                close_reply_fds(&r);
            LINE("info %s: a request with SCM_CREDENTIALS got %s", n, ename(r.h.error));
        }
    }
    for (int i = 0; i < k; i++)
        if (list[i] != broker_sock())
            close(list[i]);
    close(p[0]);
    close(p[1]);
    BLOCKED(n, "%d records carrying up to %d descriptors each, all refused", rounds, k);
}

/* ---------------------------------------------------------------- flood */

enum kind { K_PUBLIC, K_SECRET, K_STAT, K_BAD, K_KINDS };

#define FLOOD 20000
static enum kind g_flood_kind[FLOOD + 1];
static atomic_int g_flood_fail;

static void *flood_reader(void *arg) {
    const char *n = arg;
    static struct reply r;
    for (uint32_t i = 1; i <= FLOOD; i++) {
        int got = recv_guarded(broker_sock(), &r, n);
        if (got <= 0) {
            ERROR(n, "reply %u: connection lost", i);
            atomic_store(&g_flood_fail, 1);
            return NULL;
        }
        enum kind k = g_flood_kind[i];
        uint32_t want_id = k == K_BAD ? 0 : i;
        if (r.h.id != want_id) {
            ERROR(n, "reply %u has id %u: out of order", i, r.h.id);
            atomic_store(&g_flood_fail, 1);
            close_reply_fds(&r);
            return NULL;
        }
        if (k == K_SECRET && (r.nfds || r.h.error != E_HIDDEN)) {
            SUCCEEDED(n, "request %u for the secret got %s with %d descriptors", i,
                      ename(r.h.error), r.nfds);
        } else if (k == K_PUBLIC) {
            if (r.nfds != 1 || r.h.error) {
                ERROR(n, "request %u for the public file: %s", i, ename(r.h.error));
                atomic_store(&g_flood_fail, 1);
            } else if (i % 97 == 0) {
                unsigned char b[8];
                if (pread(r.fds[0], b, 6, 0) != 6 || memcmp(b, "PUBLIC", 6))
                    ERROR(n, "request %u: wrong content", i);
            }
        } else if (k == K_STAT && (r.h.error || r.h.data_len != 128)) {
            ERROR(n, "stat %u: %s", i, ename(r.h.error));
            atomic_store(&g_flood_fail, 1);
        } else if (k == K_BAD && r.h.error != EPROTO) {
            ERROR(n, "bad record %u: %s", i, ename(r.h.error));
        }
        close_reply_fds(&r);
    }
    return NULL;
}

static void flood(void) {
    const char *n = "flood";
    pthread_t th;
    const char *pub = tpath("pub/public.txt"), *sec = tpath("secret/data");
    for (uint32_t i = 1; i <= FLOOD; i++)
        g_flood_kind[i] = (enum kind)(i % K_KINDS);
    g_next_id = 0;
    if (pthread_create(&th, NULL, flood_reader, (void *)n)) {
        ERROR(n, "pthread_create");
        return;
    }
    unsigned char buf[24 + PATH_MAX];
    /* Pipelined, as fast as the socket takes them. */
    for (uint32_t i = 1; i <= FLOOD && !atomic_load(&g_flood_fail); i++) {
        size_t l;
        switch (g_flood_kind[i]) {
        case K_PUBLIC: l = make_request(buf, OP_OPEN, i, O_RDONLY, 0, pub, strlen(pub)); break;
        case K_SECRET: l = make_request(buf, OP_OPEN, i, O_RDONLY, 0, sec, strlen(sec)); break;
        case K_STAT: l = make_request(buf, OP_STAT, i, 0, 0, pub, strlen(pub)); break;
        default:
            l = make_request(buf, OP_OPEN, i, O_RDONLY, 0, pub, strlen(pub));
            ((struct req_hdr *)buf)->version = 9;
        }
        if (send_raw(broker_sock(), buf, l, NULL, 0) < 0) {
            ERROR(n, "send %u: %s", i, ename(errno));
            break;
        }
    }
    pthread_join(th, NULL);
    if (!atomic_load(&g_flood_fail))
        BLOCKED(n, "%d pipelined requests, each answered in order, the secret never", FLOOD);
}

/* -------------------------------------------------------------- threads */

#define THREADS 16
#define PER_THREAD 400
static enum kind g_th_kind[THREADS * PER_THREAD + 1];
static atomic_uchar g_th_answered[THREADS * PER_THREAD + 1];
static atomic_uint g_th_id;
static atomic_int g_th_bad, g_th_secret;

/* Set before the threads start: tpath()'s buffers are not for threads. */
static char g_th_pub[PATH_MAX], g_th_sec[PATH_MAX];

static void *thread_worker(void *arg) {
    (void)arg;
    const char *pub = g_th_pub, *sec = g_th_sec;
    unsigned char buf[24 + PATH_MAX];
    static __thread struct reply r;
    for (int i = 0; i < PER_THREAD; i++) {
        uint32_t id = atomic_fetch_add(&g_th_id, 1) + 1;
        enum kind k = (enum kind)(id % 3);
        g_th_kind[id] = k;
        atomic_thread_fence(memory_order_seq_cst);
        const char *p = k == K_SECRET ? sec : pub;
        size_t l = make_request(buf, k == K_STAT ? OP_STAT : OP_OPEN, id, O_RDONLY, 0, p, strlen(p));
        if (send_raw(broker_sock(), buf, l, NULL, 0) < 0) {
            atomic_fetch_add(&g_th_bad, 1);
            return NULL;
        }
        /* Any thread's reply may come back to us: match it by id. */
        int got = recv_guarded(broker_sock(), &r, "threads");
        if (got <= 0) {
            atomic_fetch_add(&g_th_bad, 1);
            return NULL;
        }
        uint32_t rid = r.h.id;
        if (rid == 0 || rid > THREADS * PER_THREAD || atomic_fetch_add(&g_th_answered[rid], 1)) {
            atomic_fetch_add(&g_th_bad, 1);
        } else {
            enum kind rk = g_th_kind[rid];
            if (rk == K_SECRET && (r.nfds || r.h.error != E_HIDDEN)) {
                if (atomic_fetch_add(&g_th_secret, 1) < 3) {
                    unsigned char b[64] = "";
                    ssize_t k = r.nfds ? pread(r.fds[0], b, sizeof b - 1, 0) : 0;
                    LINE("info threads: reply %u (for the secret): error %s, op %u, %d fds, "
                         "data_len %u, content %.*s",
                         rid, ename(r.h.error), r.h.op, r.nfds, r.h.data_len,
                         k > 0 ? (int)k : 0, (char *)b);
                }
            }
            else if (rk == K_PUBLIC) {
                unsigned char b[8];
                if (r.nfds != 1 || pread(r.fds[0], b, 6, 0) != 6 || memcmp(b, "PUBLIC", 6))
                    atomic_fetch_add(&g_th_bad, 1);
            } else if (rk == K_STAT && (r.h.error || r.h.data_len != 128 || r.nfds))
                atomic_fetch_add(&g_th_bad, 1);
        }
        close_reply_fds(&r);
    }
    return NULL;
}

static void threads(void) {
    const char *n = "threads";
    pthread_t th[THREADS];
    int started = 0;
    snprintf(g_th_pub, sizeof g_th_pub, "%s", tpath("pub/public.txt"));
    snprintf(g_th_sec, sizeof g_th_sec, "%s", tpath("secret/data"));
    for (int i = 0; i < THREADS; i++)
        started += pthread_create(&th[i], NULL, thread_worker, NULL) == 0;
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    unsigned total = atomic_load(&g_th_id), answered = 0;
    for (unsigned i = 1; i <= total; i++)
        answered += atomic_load(&g_th_answered[i]) == 1;
    if (atomic_load(&g_th_secret))
        SUCCEEDED(n, "%d requests for the secret were answered with a descriptor",
                  atomic_load(&g_th_secret));
    else if (started != THREADS || atomic_load(&g_th_bad) || answered != total)
        ERROR(n, "%d threads, %u requests, %u answered once, %d bad replies", started, total,
              answered, atomic_load(&g_th_bad));
    else
        BLOCKED(n, "%d threads x %d requests at once: every reply matched its request", THREADS,
                PER_THREAD);
}

/* ---------------------------------------------------- dying mid-request */

/* Receives replies until the one with `id`, closing whatever else came. */
static int drain_until(uint32_t id, const char *n, int *stale) {
    static struct reply r;
    for (int i = 0; i < 8; i++) {
        if (recv_guarded(broker_sock(), &r, n) <= 0)
            return -1;
        int err = r.h.error;
        uint32_t rid = r.h.id;
        close_reply_fds(&r);
        if (rid == id)
            return err;
        (*stale)++;
    }
    return -1;
}

static void dies(void) {
    const char *n = "dies_mid_request";
    const char *fifo = tpath("pub/fifo");
    unsigned char buf[24 + PATH_MAX];
    /* (a) A process sharing the connection sends a request and exits. */
    fflush(stdout);
    pid_t g = fork();
    if (g == 0) {
        size_t l = make_request(buf, OP_OPEN, 0xdead, O_RDONLY, 0, tpath("pub/public.txt"),
                                strlen(tpath("pub/public.txt")));
        send_raw(broker_sock(), buf, l, NULL, 0);
        _exit(0);
    }
    waitpid(g, NULL, 0);
    /* (b) One that asks for a FIFO (the broker's open blocks until the
     * runner writes) and is killed while the broker waits. */
    g = fork();
    if (g == 0) {
        size_t l = make_request(buf, OP_OPEN, 0xbeef, O_RDONLY, 0, fifo, strlen(fifo));
        send_raw(broker_sock(), buf, l, NULL, 0);
        pause();
        _exit(0);
    }
    usleep(100000);
    kill(g, SIGKILL);
    waitpid(g, NULL, 0);
    /* Our own request, after theirs: the stale replies come first. */
    int stale = 0;
    size_t l = make_request(buf, OP_OPEN, 0x5eed, O_RDONLY, 0, tpath("pub/public.txt"),
                            strlen(tpath("pub/public.txt")));
    if (send_raw(broker_sock(), buf, l, NULL, 0) < 0) {
        ERROR(n, "send: %s", ename(errno));
        return;
    }
    int e = drain_until(0x5eed, n, &stale);
    if (e != 0)
        ERROR(n, "the connection no longer serves: %s", e < 0 ? "lost" : ename(e));
    else
        BLOCKED(n, "after two requesters died, %d stale replies drained, still served", stale);
    if (getenv("ATTACK_HOST"))
        return;
    /* (c) The same through a brokered system call: the broker's answer
     * finds the caller gone and must close what it opened. */
    g = fork();
    if (g == 0) {
        int fd = open(fifo, O_RDONLY);
        _exit(fd >= 0 ? 0 : 1);
    }
    usleep(100000);
    kill(g, SIGKILL);
    waitpid(g, NULL, 0);
    BLOCKED(n, "a process killed inside a brokered open of a FIFO (the runner checks descriptors)");
}

/* --------------------------------------------------- bystander (host mode) */

static int bystander_proto(void) {
    long ok = 0, bad = 0;
    fcntl(0, F_SETFL, O_NONBLOCK);
    for (long i = 0; i < 100000; i++) {
        char c;
        ssize_t r = read(0, &c, 1);
        int last = r == 0 || (r < 0 && errno != EAGAIN);
        int fd = w_open(tpath("pub/public.txt"), O_RDONLY, 0);
        unsigned char b[8];
        int good = fd >= 0 && pread(fd, b, 6, 0) == 6 && !memcmp(b, "PUBLIC", 6);
        if (fd >= 0)
            close(fd);
        int s = w_open(tpath("secret/data"), O_RDONLY, 0);
        if (s >= 0) {
            SUCCEEDED("bystander", "the secret was opened");
            close(s);
        }
        if (good && s == -E_HIDDEN)
            ok++;
        else
            bad++;
        if (last)
            break;
        usleep(2000);
    }
    if (ok > 0 && bad == 0)
        LINE("bystander ok: served %ld rounds", ok);
    else
        LINE("bystander FAILED: %ld rounds served, %ld not", ok, bad);
    return 0;
}

int main(int argc, char **argv) {
    init_common();
    g_proto = 1;
    if (broker_sock() < 0) {
        ERROR("setup", "FDBROKER_FD is not a seqpacket socket");
        return 2;
    }
    const char *first = argc > 1 ? argv[1] : "all";
    if (!strcmp(first, "bystander"))
        return bystander_proto();
    control_public("before");
    ready();
    if (!getenv("ATTACK_HOST"))
        bystander_start();
    struct {
        const char *name;
        void (*fn)(void);
    } attacks[] = {{"garbage", garbage},   {"truncated", truncated}, {"oversized", oversized},
                   {"fds", fds},           {"flood", flood},         {"threads", threads},
                   {"dies", dies}};
    for (size_t i = 0; i < sizeof attacks / sizeof *attacks; i++) {
        int wanted = !strcmp(first, "all");
        for (int a = 1; a < argc; a++)
            wanted |= !strcmp(argv[a], attacks[i].name);
        if (wanted)
            attacks[i].fn();
    }
    bystander_stop();
    control_public("after");
    done();
    return 0;
}
