/*
 * fdbench: the workload and the hand-written minimal baselines of fdbroker's
 * benchmarks (benches/fdbench/main.rs compiles it with `cc -O2` and drives it;
 * see docs/performance.md).
 *
 * Every mode loops `open(path, O_RDONLY|O_CLOEXEC)` + `close` and prints one
 * line `RESULT ops=N errors=E ns=T [hist=...]` on stdout. The modes differ only
 * in who performs the open:
 *
 *   native  PATH N      the kernel, directly (glibc open -> openat(2)); also the
 *                       program run under `fdbroker run`, where the very same
 *                       loop is brokered by seccomp user notification.
 *   proto   PATH N      the broker behind FDBROKER_FD, over fdbroker's wire
 *                       protocol (docs/protocol.md), written out by hand.
 *   sockbase PATH N     baseline of the protocol round trip: fork; the child is
 *                       the same client as `proto`, the parent a server that
 *                       does recvmsg, openat, sendmsg(SCM_RIGHTS), close and
 *                       nothing else: no policy, no allocation, no checks.
 *   sockfloor PATH N    as sockbase, but the server sends a descriptor it opened
 *                       once at start: the IPC alone.
 *   unotifybase PATH N  baseline of the seccomp round trip: fork; the child
 *                       installs a filter sending openat to a listener and
 *                       loops; the parent supervises with RECV,
 *                       process_vm_readv(path), openat, ADDFD|SEND, close.
 *   unotifyfloor PATH N as unotifybase, but the supervisor neither reads the
 *                       path nor opens: it installs a descriptor opened once.
 *   socksecure, unotifysecure PATH N
 *                       as the baselines, with the open done race-free as
 *                       fdbroker must (secure_open below), plus
 *                       SECCOMP_IOCTL_NOTIF_ID_VALID before acting on a path
 *                       read from the caller: the syscalls of fdbroker's
 *                       security model and nothing else (no policy).
 *   now                 prints CLOCK_MONOTONIC in nanoseconds (for --start-ns).
 *   scale PATH          --procs P --threads T --start-ns S --end-ns E: P
 *                       processes of T threads each loop open/close from S to
 *                       E (CLOCK_MONOTONIC) and record every latency in a
 *                       histogram. --via proto uses FDBROKER_FD (one shared
 *                       connection per process, a mutex per exchange, as the
 *                       Rust client does). --hold: print READY before the
 *                       start and wait for EOF on stdin after the result,
 *                       so the harness can sample the broker meanwhile.
 *                       --out DIR: write the result to DIR/result.<pid>.
 *
 * Options: --cpu C pins this process (the client) to CPU C; --server-cpu S
 * pins a baseline's server/supervisor to CPU S; --sync sets
 * SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP on a baseline's listener (Linux 6.6);
 * --epoll makes a baseline's supervisor wait in epoll_wait before each RECV;
 * --two-step makes it install each descriptor with ADDFD and then answer with
 * SEND (instead of ADDFD|SEND), its callers waiting killably
 * (SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV): a way of delivering descriptors
 * measured for fdbroker and not kept (docs/performance.md, "Delivery").
 * --idle-addfd makes the supervisor run each ADDFD as SCHED_IDLE, so that the
 * kernel counts its CPU as idle and wakes the caller there; --follow pins the
 * supervisor to its current CPU for each ADDFD, so that the caller's wake-up of
 * it stays there too: placement levers measured and not kept
 * (docs/performance.md, "What is left, and what blocks it").
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

#define WARMUP 2000
#define OPEN_FLAGS (O_RDONLY | O_CLOEXEC)

static void die(const char *what) {
    fprintf(stderr, "fdbench: %s: %s\n", what, strerror(errno));
    exit(2);
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void pin(int cpu) {
    if (cpu < 0) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) die("sched_setaffinity");
}

/* ---- histogram: 64 linear sub-buckets per power of two (about 1.5 %) ---- */
#define SUB 64
#define NBUCKETS (SUB * 42)
static inline int bucket(uint64_t v) {
    if (v < SUB) return (int)v;
    int e = 63 - __builtin_clzll(v); /* >= 6 */
    int b = (e - 5) * SUB + (int)((v >> (e - 6)) - SUB);
    return b < NBUCKETS ? b : NBUCKETS - 1;
}

/* ---- fdbroker wire protocol, version 1 (docs/protocol.md) ---- */
struct __attribute__((packed)) request {
    uint16_t version, op;
    uint32_t id;
    int32_t flags;
    uint32_t mode, path_len, reserved;
};
struct __attribute__((packed)) reply {
    uint16_t version;
    uint8_t op, nfds;
    uint32_t id;
    int32_t error;
    uint32_t data_len;
};
#define MAX_REQUEST (24 + 4095)
#define MAX_REPLY (16 + 4096)
#define CONTROL_LEN CMSG_SPACE(253 * sizeof(int))

struct client {
    int sock;
    uint32_t id;
    pthread_mutex_t lock;
};

/* One protocol open: returns the descriptor or -1 (errno set). */
static int proto_open(struct client *c, const char *path, size_t len) {
    char out[MAX_REQUEST];
    char in[MAX_REPLY];
    union { char buf[CONTROL_LEN]; struct cmsghdr align; } control;
    pthread_mutex_lock(&c->lock);
    struct request rq = {1, 1, ++c->id, OPEN_FLAGS, 0, (uint32_t)len, 0};
    memcpy(out, &rq, sizeof rq);
    memcpy(out + sizeof rq, path, len);
    if (send(c->sock, out, sizeof rq + len, MSG_NOSIGNAL) < 0) {
        pthread_mutex_unlock(&c->lock);
        return -1;
    }
    struct iovec iov = {in, sizeof in};
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    ssize_t n = recvmsg(c->sock, &msg, MSG_CMSG_CLOEXEC);
    pthread_mutex_unlock(&c->lock);
    if (n < 0) return -1;
    int fd = -1, extra = 0;
    for (struct cmsghdr *h = CMSG_FIRSTHDR(&msg); h; h = CMSG_NXTHDR(&msg, h)) {
        if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS) {
            int k = (int)((h->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            for (int i = 0; i < k; i++) {
                int got;
                memcpy(&got, CMSG_DATA(h) + i * sizeof(int), sizeof got);
                if (fd < 0) fd = got; else { close(got); extra = 1; }
            }
        }
    }
    struct reply rp;
    if (n < (ssize_t)sizeof rp || extra || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
        if (fd >= 0) close(fd);
        errno = EPROTO;
        return -1;
    }
    memcpy(&rp, in, sizeof rp);
    if (rp.version != 1 || rp.op != 1 || rp.id != rq.id) {
        if (fd >= 0) close(fd);
        errno = EPROTO;
        return -1;
    }
    if (rp.error) {
        if (fd >= 0) close(fd);
        errno = rp.error;
        return -1;
    }
    if (fd < 0) errno = EPROTO;
    return fd;
}

/* ---- the measured loop ---- */
enum via { VIA_LIBC, VIA_PROTO };
struct loop {
    enum via via;
    struct client *client;
    const char *path;
    size_t len;
};

static inline int one_open(const struct loop *l) {
    int fd = l->via == VIA_LIBC ? open(l->path, OPEN_FLAGS) : proto_open(l->client, l->path, l->len);
    if (fd < 0) return -1;
    close(fd);
    return 0;
}

/* Runs n timed iterations after a warm-up; prints RESULT. */
static void timed_loop(const struct loop *l, long n) {
    long errors = 0;
    for (int i = 0; i < WARMUP; i++) errors += one_open(l) != 0;
    if (errors) {
        fprintf(stderr, "fdbench: open %s fails during warm-up: %s\n", l->path, strerror(errno));
        exit(3);
    }
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++) errors += one_open(l) != 0;
    uint64_t t1 = now_ns();
    printf("RESULT ops=%ld errors=%ld ns=%llu\n", n, errors, (unsigned long long)(t1 - t0));
    fflush(stdout);
}

static struct client *client_from_env(void) {
    const char *v = getenv("FDBROKER_FD");
    if (!v) { errno = EBADF; die("FDBROKER_FD not set"); }
    struct client *c = calloc(1, sizeof *c);
    c->sock = atoi(v);
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

/* The race-free open a broker must do instead of a plain openat, as fdbroker
 * does it (src/resolve): reach the object without following magic links
 * (openat2 O_PATH|RESOLVE_NO_MAGICLINKS), read its canonical name back
 * (readlinkat on the held /proc/<pid>/fd: the name a policy is matched
 * against), and open exactly that object again through that link. The name
 * is read but no policy consulted. proc_fd is opened by the serving process. */
static int proc_fd = -1;
static int secure_open(const char *path, int flags) {
    if (proc_fd < 0 && (proc_fd = open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
        die("open /proc/self/fd");
    struct open_how how = {.flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_NO_MAGICLINKS};
    int o = (int)syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof how);
    if (o < 0) return -1;
    char num[16], name[4097];
    snprintf(num, sizeof num, "%d", o);
    ssize_t n = readlinkat(proc_fd, num, name, sizeof name - 1);
    int fd = n > 0 && name[0] == '/' ? openat(proc_fd, num, (flags & ~O_NOFOLLOW) | O_CLOEXEC | O_NOCTTY) : -1;
    int saved = errno;
    close(o);
    errno = saved;
    return fd;
}

/* ---- socketpair baseline ---- */
static void sock_server(int sock, int floor_fd, int secure) {
    char in[MAX_REQUEST + 1];
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } control;
    for (;;) {
        ssize_t n = recv(sock, in, MAX_REQUEST, 0);
        if (n <= 0) return;
        struct request rq;
        memcpy(&rq, in, sizeof rq);
        in[n] = 0;
        int fd = floor_fd >= 0 ? floor_fd
                 : secure      ? secure_open(in + sizeof rq, rq.flags)
                               : openat(AT_FDCWD, in + sizeof rq, rq.flags | O_CLOEXEC, 0);
        struct reply rp = {1, 1, fd >= 0, rq.id, fd >= 0 ? 0 : errno, 0};
        struct iovec iov = {&rp, sizeof rp};
        struct msghdr msg = {0};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        if (fd >= 0) {
            msg.msg_control = control.buf;
            msg.msg_controllen = sizeof control.buf;
            struct cmsghdr *h = CMSG_FIRSTHDR(&msg);
            h->cmsg_level = SOL_SOCKET;
            h->cmsg_type = SCM_RIGHTS;
            h->cmsg_len = CMSG_LEN(sizeof(int));
            memcpy(CMSG_DATA(h), &fd, sizeof fd);
        }
        if (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0) return;
        if (fd >= 0 && fd != floor_fd) close(fd);
    }
}

static void sockbase(const char *path, long n, int server_cpu, int floor, int secure) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) die("socketpair");
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        close(sv[0]);
        struct client c = {.sock = sv[1]};
        pthread_mutex_init(&c.lock, NULL);
        struct loop l = {VIA_PROTO, &c, path, strlen(path)};
        timed_loop(&l, n);
        _exit(0);
    }
    close(sv[1]);
    pin(server_cpu);
    int floor_fd = -1;
    if (floor && (floor_fd = open(path, OPEN_FLAGS)) < 0) die("open");
    sock_server(sv[0], floor_fd, secure);
    int st;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st)) exit(4);
}

/* ---- seccomp user-notification baseline ---- */
static int send_fd(int sock, int fd) {
    char byte = 1;
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } control;
    struct iovec iov = {&byte, 1};
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    struct cmsghdr *h = CMSG_FIRSTHDR(&msg);
    h->cmsg_level = SOL_SOCKET;
    h->cmsg_type = SCM_RIGHTS;
    h->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(h), &fd, sizeof fd);
    return sendmsg(sock, &msg, 0) < 0 ? -1 : 0;
}

static int recv_fd(int sock) {
    char byte;
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } control;
    struct iovec iov = {&byte, 1};
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) <= 0) return -1;
    struct cmsghdr *h = CMSG_FIRSTHDR(&msg);
    if (!h || h->cmsg_type != SCM_RIGHTS) return -1;
    int fd;
    memcpy(&fd, CMSG_DATA(h), sizeof fd);
    return fd;
}

/* Reads the NUL-terminated path at addr in pid, up to the end of its page
 * (enough for any path this benchmark uses). */
static int read_path(pid_t pid, uint64_t addr, char *out, size_t cap) {
    size_t first = 4096 - (addr % 4096);
    if (first > cap - 1) first = cap - 1;
    struct iovec local = {out, first};
    struct iovec remote = {(void *)(uintptr_t)addr, first};
    ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
    if (n <= 0) return -1;
    out[n] = 0;
    return memchr(out, 0, (size_t)n + 1) ? 0 : -1;
}

static int two_step, idle_addfd, follow;

static void set_policy(int policy) {
    struct sched_param sp = {0};
    if (sched_setscheduler(0, policy, &sp)) die("sched_setscheduler");
}

static void unotifybase(const char *path, long n, int server_cpu, int sync_wake, int floor, int use_epoll,
                        int secure) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) die("socketpair");
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        close(sv[0]);
        struct sock_filter prog[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog fprog = {sizeof prog / sizeof prog[0], prog};
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) die("no_new_privs");
        int listener = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                                    SECCOMP_FILTER_FLAG_NEW_LISTENER |
                                        (two_step ? SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV : 0),
                                    &fprog);
        if (listener < 0) die("seccomp");
        if (send_fd(sv[1], listener)) die("send listener");
        close(listener);
        struct loop l = {VIA_LIBC, NULL, path, strlen(path)};
        timed_loop(&l, n);
        _exit(0);
    }
    close(sv[1]);
    pin(server_cpu);
    int listener = recv_fd(sv[0]);
    if (listener < 0) die("receive listener");
    if (sync_wake && ioctl(listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP))
        die("SECCOMP_IOCTL_NOTIF_SET_FLAGS");
    int floor_fd = -1;
    if (floor && (floor_fd = open(path, OPEN_FLAGS)) < 0) die("open");
    int ep = -1;
    if (use_epoll) {
        struct epoll_event ev = {.events = EPOLLIN};
        if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev))
            die("epoll");
    }
    char buf[4096];
    for (long served = 0; served < n + WARMUP; served++) {
        struct epoll_event ev;
        if (ep >= 0 && epoll_wait(ep, &ev, 1, -1) != 1) die("epoll_wait");
        struct seccomp_notif req;
        memset(&req, 0, sizeof req);
        if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &req)) die("RECV");
        int fd = floor_fd;
        if (fd < 0) {
            if (read_path(req.pid, req.data.args[1], buf, sizeof buf) == 0) {
                if (!secure) fd = openat(AT_FDCWD, buf, (int)req.data.args[2] | O_CLOEXEC, 0);
                else if (ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &req.id) == 0)
                    fd = secure_open(buf, (int)req.data.args[2]);
            }
        }
        if (fd >= 0) {
            struct seccomp_notif_addfd add = {
                .id = req.id,
                .flags = two_step ? 0 : SECCOMP_ADDFD_FLAG_SEND,
                .srcfd = (uint32_t)fd,
                .newfd = 0,
                .newfd_flags = (req.data.args[2] & O_CLOEXEC) ? O_CLOEXEC : 0,
            };
            cpu_set_t all, here;
            if (follow) {
                int cpu_now = sched_getcpu();
                if (cpu_now < 0) die("sched_getcpu");
                CPU_ZERO(&here);
                CPU_SET(cpu_now, &here);
                if (sched_getaffinity(0, sizeof all, &all) || sched_setaffinity(0, sizeof here, &here))
                    die("sched_setaffinity");
            }
            if (idle_addfd) set_policy(SCHED_IDLE);
            int installed = ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &add);
            if (installed < 0) die("ADDFD");
            if (idle_addfd) set_policy(SCHED_OTHER);
            if (follow && sched_setaffinity(0, sizeof all, &all)) die("sched_setaffinity");
            if (two_step) {
                struct seccomp_notif_resp resp = {.id = req.id, .val = installed, .error = 0, .flags = 0};
                if (ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp)) die("SEND");
            }
            if (fd != floor_fd) close(fd);
        } else {
            struct seccomp_notif_resp resp = {.id = req.id, .val = 0, .error = -errno, .flags = 0};
            if (ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp)) die("SEND");
        }
    }
    int st;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st)) exit(4);
}

/* ---- scale ---- */
struct slot {
    uint64_t ops, errors;
    uint32_t hist[NBUCKETS];
};
struct worker {
    struct loop loop;
    struct slot *slot;
    uint64_t start, end;
};

static void *work(void *arg) {
    struct worker *w = arg;
    struct timespec at = {(time_t)(w->start / 1000000000u), (long)(w->start % 1000000000u)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL) == EINTR) {}
    uint64_t t = now_ns();
    while (t < w->end) {
        int rc = one_open(&w->loop);
        uint64_t t2 = now_ns();
        if (rc) w->slot->errors++;
        else w->slot->ops++;
        w->slot->hist[bucket(t2 - t)]++;
        t = t2;
    }
    return NULL;
}

static void scale(const char *path, enum via via, int procs, int threads, uint64_t start,
                  uint64_t end, int hold, const char *out_dir) {
    size_t workers = (size_t)procs * (size_t)threads;
    struct slot *slots = mmap(NULL, workers * sizeof *slots, PROT_READ | PROT_WRITE,
                              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (slots == MAP_FAILED) die("mmap");
    /* Per-process connection when via proto: only a single process can use it. */
    struct client *client = via == VIA_PROTO ? client_from_env() : NULL;
    if (via == VIA_PROTO && procs != 1) { errno = EINVAL; die("--via proto needs --procs 1"); }
    if (hold) { printf("READY\n"); fflush(stdout); }
    pid_t *pids = calloc((size_t)procs, sizeof *pids);
    for (int p = 0; p < procs; p++) {
        pid_t pid = procs == 1 ? 0 : fork();
        if (pid < 0) die("fork");
        if (pid > 0) { pids[p] = pid; continue; }
        pthread_t *tids = calloc((size_t)threads, sizeof *tids);
        struct worker *ws = calloc((size_t)threads, sizeof *ws);
        for (int t = 0; t < threads; t++) {
            ws[t] = (struct worker){{via, client, path, strlen(path)}, &slots[p * threads + t], start, end};
            if (threads == 1) work(&ws[t]);
            else if (pthread_create(&tids[t], NULL, work, &ws[t])) die("pthread_create");
        }
        if (threads > 1)
            for (int t = 0; t < threads; t++) pthread_join(tids[t], NULL);
        if (procs > 1) _exit(0);
    }
    int failed = 0;
    for (int p = 0; procs > 1 && p < procs; p++) {
        int st;
        if (waitpid(pids[p], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) failed++;
    }
    struct rusage self, kids;
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &kids);
    uint64_t cpu_us = 0;
    struct timeval tv[4] = {self.ru_utime, self.ru_stime, kids.ru_utime, kids.ru_stime};
    for (int i = 0; i < 4; i++) cpu_us += (uint64_t)tv[i].tv_sec * 1000000u + (uint64_t)tv[i].tv_usec;
    uint64_t ops = 0, errors = 0;
    static uint64_t hist[NBUCKETS];
    for (size_t w = 0; w < workers; w++) {
        ops += slots[w].ops;
        errors += slots[w].errors;
        for (int b = 0; b < NBUCKETS; b++) hist[b] += slots[w].hist[b];
    }
    /* One line, written whole: into its own file with --out (many processes
     * report at once), else to stdout. */
    FILE *out = stdout;
    if (out_dir) {
        char name[4096];
        snprintf(name, sizeof name, "%s/result.%d", out_dir, (int)getpid());
        if (!(out = fopen(name, "we"))) die("fopen");
    }
    fprintf(out, "RESULT ops=%llu errors=%llu ns=%llu workers_failed=%d client_cpu_us=%llu hist=",
            (unsigned long long)ops, (unsigned long long)errors, (unsigned long long)(end - start),
            failed, (unsigned long long)cpu_us);
    int first = 1;
    for (int b = 0; b < NBUCKETS; b++)
        if (hist[b]) { fprintf(out, "%s%d:%llu", first ? "" : ",", b, (unsigned long long)hist[b]); first = 0; }
    fprintf(out, "\n");
    if (out != stdout && fclose(out)) die("fclose");
    fflush(stdout);
    if (hold) {
        char c;
        while (read(0, &c, 1) > 0) {}
    }
}

int main(int argc, char **argv) {
    if (argc == 2 && !strcmp(argv[1], "now")) {
        printf("%llu\n", (unsigned long long)now_ns());
        return 0;
    }
    if (argc < 3) {
        fprintf(stderr, "usage: fdbench MODE PATH [N] [options]\n");
        return 2;
    }
    const char *mode = argv[1], *path = argv[2];
    long n = 100000;
    int cpu = -1, server_cpu = -1, sync_wake = 0, procs = 1, threads = 1, hold = 0, use_epoll = 0;
    enum via via = VIA_LIBC;
    uint64_t start = 0, end = 0;
    const char *out_dir = NULL;
    for (int i = 3; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(a, "--cpu")) cpu = atoi(v), i++;
        else if (!strcmp(a, "--server-cpu")) server_cpu = atoi(v), i++;
        else if (!strcmp(a, "--sync")) sync_wake = 1;
        else if (!strcmp(a, "--epoll")) use_epoll = 1;
        else if (!strcmp(a, "--two-step")) two_step = 1;
        else if (!strcmp(a, "--idle-addfd")) idle_addfd = 1;
        else if (!strcmp(a, "--follow")) follow = 1;
        else if (!strcmp(a, "--procs")) procs = atoi(v), i++;
        else if (!strcmp(a, "--threads")) threads = atoi(v), i++;
        else if (!strcmp(a, "--start-ns")) start = strtoull(v, NULL, 10), i++;
        else if (!strcmp(a, "--end-ns")) end = strtoull(v, NULL, 10), i++;
        else if (!strcmp(a, "--via")) via = !strcmp(v, "proto") ? VIA_PROTO : VIA_LIBC, i++;
        else if (!strcmp(a, "--hold")) hold = 1;
        else if (!strcmp(a, "--out")) out_dir = v, i++;
        else n = atol(a);
    }
    pin(cpu);
    if (!strcmp(mode, "native")) {
        struct loop l = {VIA_LIBC, NULL, path, strlen(path)};
        timed_loop(&l, n);
    } else if (!strcmp(mode, "proto")) {
        struct loop l = {VIA_PROTO, client_from_env(), path, strlen(path)};
        timed_loop(&l, n);
    } else if (!strcmp(mode, "sockbase") || !strcmp(mode, "sockfloor") || !strcmp(mode, "socksecure")) {
        sockbase(path, n, server_cpu, !strcmp(mode, "sockfloor"), !strcmp(mode, "socksecure"));
    } else if (!strcmp(mode, "unotifybase") || !strcmp(mode, "unotifyfloor") ||
               !strcmp(mode, "unotifysecure")) {
        unotifybase(path, n, server_cpu, sync_wake, !strcmp(mode, "unotifyfloor"), use_epoll,
                    !strcmp(mode, "unotifysecure"));
    } else if (!strcmp(mode, "scale")) {
        if (procs < 1 || threads < 1 || end <= start) { errno = EINVAL; die("scale arguments"); }
        scale(path, via, procs, threads, start, end, hold, out_dir);
    } else {
        fprintf(stderr, "fdbench: unknown mode %s\n", mode);
        return 2;
    }
    return 0;
}
