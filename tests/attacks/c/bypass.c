/*
 * System-call bypasses: ways to a file, a process or the network that do
 * not go through a brokered open.
 *
 *   bypass all|<attack>...      the attacks (system calls only)
 *   bypass handle <path>        (helper, run unconfined) prints a file handle
 *   bypass inner                (re-executed by the exec attack) tries again
 *
 * Environment: ATTACK_ROOT, ATTACK_VICTIM (an unrelated process running as
 * the same user as this program), ATTACK_HANDLE (the secret's file handle),
 * ATTACK_SELF (this program's path), ATTACK_ABSTRACT / ATTACK_UNIX_PATH /
 * ATTACK_DGRAM_PATH / ATTACK_INET_PORT (listeners the runner opened),
 * ATTACK_NETWORK=1 (the policy says network = true), ATTACK_TTY=1 (standard
 * input is the controlling terminal). With ATTACK_CONTROL=1 the program runs
 * unconfined as a control: the attacks then must work, which shows that they
 * are real; the "broker" is then the victim, and nothing is sent to the
 * runner's process group.
 */
#include "common.h"

#include <linux/filter.h>
#include <linux/io_uring.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <sys/statfs.h>
#include <sys/inotify.h>
#include <linux/fs.h>
#include <utime.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif

static const char *S(void) { return tpath("secret/data"); }
static const char *P(void) { return tpath("pub/protected.txt"); }

/* Reads the descriptor an attack obtained and reports what it got. */
static void got_fd(const char *name, const char *how, int fd) {
    unsigned char b[128];
    ssize_t n = slurp(fd, b, sizeof b);
    printf("read %s: ", name);
    if (n > 0)
        esc_print(b, (size_t)n);
    putchar('\n');
    SUCCEEDED(name, "%s gave a descriptor%s", how, n > 0 && has_secret(b, (size_t)n) ? " to the secret" : "");
    close(fd);
}

/* A call that must fail: `r` is its return value, errno as it left it. */
static void must_fail(const char *name, const char *what, long r) {
    if (r < 0)
        BLOCKED(name, "%s: %s", what, ename(errno));
    else
        SUCCEEDED(name, "%s returned %ld", what, r);
}

/* ------------------------------------------------------------ io_uring */

static void io_uring(void) {
    const char *n = "io_uring";
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    int ring = (int)syscall(SYS_io_uring_setup, 4, &p);
    if (ring < 0) {
        BLOCKED(n, "io_uring_setup: %s", ename(errno));
        /* The other two calls must be refused even on a descriptor number
         * that does not exist (the filter does not look at arguments). */
        must_fail(n, "io_uring_enter", syscall(SYS_io_uring_enter, 0, 1, 1, 0, NULL, 0));
        must_fail(n, "io_uring_register", syscall(SYS_io_uring_register, 0, 0, NULL, 0));
        return;
    }
    size_t sq_sz = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cq_sz = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    unsigned char *sq = mmap(NULL, sq_sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring,
                             IORING_OFF_SQ_RING);
    unsigned char *cq = mmap(NULL, cq_sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring,
                             IORING_OFF_CQ_RING);
    struct io_uring_sqe *sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe),
                                     PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring,
                                     IORING_OFF_SQES);
    if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED) {
        ERROR(n, "mmap of the rings: %s", ename(errno));
        close(ring);
        return;
    }
    unsigned *tail = (unsigned *)(sq + p.sq_off.tail);
    unsigned mask = *(unsigned *)(sq + p.sq_off.ring_mask);
    unsigned *array = (unsigned *)(sq + p.sq_off.array);
    unsigned t = __atomic_load_n(tail, __ATOMIC_ACQUIRE);
    struct io_uring_sqe *e = &sqes[t & mask];
    memset(e, 0, sizeof *e);
    e->opcode = IORING_OP_OPENAT;
    e->fd = AT_FDCWD;
    e->addr = (uint64_t)(uintptr_t)S();
    e->open_flags = O_RDONLY;
    e->user_data = 42;
    array[t & mask] = t & mask;
    __atomic_store_n(tail, t + 1, __ATOMIC_RELEASE);
    long r = syscall(SYS_io_uring_enter, ring, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0);
    if (r < 0) {
        BLOCKED(n, "io_uring_enter: %s", ename(errno));
        close(ring);
        return;
    }
    unsigned *head = (unsigned *)(cq + p.cq_off.head);
    unsigned cmask = *(unsigned *)(cq + p.cq_off.ring_mask);
    struct io_uring_cqe *cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
    unsigned h = __atomic_load_n(head, __ATOMIC_ACQUIRE);
    int res = cqes[h & cmask].res;
    __atomic_store_n(head, h + 1, __ATOMIC_RELEASE);
    if (res >= 0)
        got_fd(n, "IORING_OP_OPENAT", res);
    else
        BLOCKED(n, "IORING_OP_OPENAT: %s", ename(-res));
    close(ring);
}

/* ---------------------------------------------------- open_by_handle_at */

static int parse_handle(const char *s, struct file_handle **out) {
    static unsigned char buf[sizeof(struct file_handle) + MAX_HANDLE_SZ];
    struct file_handle *h = (struct file_handle *)buf;
    int type;
    const char *colon = strchr(s, ':');
    if (!colon || sscanf(s, "%d", &type) != 1)
        return -1;
    size_t len = strlen(colon + 1) / 2;
    if (len > MAX_HANDLE_SZ)
        return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned v;
        if (sscanf(colon + 1 + 2 * i, "%2x", &v) != 1)
            return -1;
        h->f_handle[i] = (unsigned char)v;
    }
    h->handle_bytes = (unsigned)len;
    h->handle_type = type;
    *out = h;
    return 0;
}

static int print_handle(const char *path) {
    unsigned char buf[sizeof(struct file_handle) + MAX_HANDLE_SZ];
    struct file_handle *h = (struct file_handle *)buf;
    h->handle_bytes = MAX_HANDLE_SZ;
    int mount_id;
    if (name_to_handle_at(AT_FDCWD, path, h, &mount_id, 0)) {
        printf("none %s\n", ename(errno));
        return 0;
    }
    printf("%d:", h->handle_type);
    for (unsigned i = 0; i < h->handle_bytes; i++)
        printf("%02x", h->f_handle[i]);
    printf("\n");
    return 0;
}

static void by_handle(void) {
    const char *n = "open_by_handle_at";
    unsigned char buf[sizeof(struct file_handle) + MAX_HANDLE_SZ];
    struct file_handle *mine = (struct file_handle *)buf;
    mine->handle_bytes = MAX_HANDLE_SZ;
    int mount_id;
    long r = name_to_handle_at(AT_FDCWD, S(), mine, &mount_id, 0);
    must_fail(n, "name_to_handle_at of the secret", r);
    const char *hs = getenv("ATTACK_HANDLE");
    struct file_handle *h = NULL;
    if (!hs || parse_handle(hs, &h)) {
        SKIP(n, "no file handle for the secret (this filesystem has none: %s)", hs ? hs : "unset");
        return;
    }
    /* Any descriptor on the same filesystem will do as the mount: the
     * public directory, opened through the broker. */
    int mnt = open(tpath("pub"), O_RDONLY | O_DIRECTORY);
    if (mnt < 0) {
        ERROR(n, "open pub: %s", ename(errno));
        return;
    }
    int fd = open_by_handle_at(mnt, h, O_RDONLY);
    if (fd >= 0)
        got_fd(n, "open_by_handle_at", fd);
    else
        BLOCKED(n, "open_by_handle_at: %s", ename(errno));
    close(mnt);
}

/* ------------------------------------------------------- foreign ABIs */

/* Runs `fn` in a child; reports how the child ended. */
static void in_child(const char *name, const char *what, void (*fn)(int out)) {
    int pfd[2];
    if (pipe(pfd)) {
        ERROR(name, "pipe");
        return;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        fn(pfd[1]);
        _exit(0);
    }
    close(pfd[1]);
    char buf[512] = "";
    ssize_t k = 0, r;
    while (k < (ssize_t)sizeof buf - 1 && (r = read(pfd[0], buf + k, sizeof buf - 1 - k)) > 0)
        k += r;
    buf[k] = 0;
    close(pfd[0]);
    int st;
    waitpid(pid, &st, 0);
    if (WIFSIGNALED(st)) {
        BLOCKED(name, "%s: killed by signal %d", what, WTERMSIG(st));
    } else if (!strncmp(buf, "fd ", 3)) {
        printf("read %s: ", name);
        esc_print((unsigned char *)buf + 3, strlen(buf + 3));
        putchar('\n');
        SUCCEEDED(name, "%s got through", what);
    } else if (!strncmp(buf, "nosys", 5) && g_control) {
        LINE("info %s: %s: this kernel does not have the ABI", name, what);
    } else {
        BLOCKED(name, "%s: %s", what, buf[0] ? buf : "no result");
    }
}

static void report_fd_to(int out, long r) {
    if (r >= 0) {
        unsigned char b[64];
        ssize_t n = slurp((int)r, b, sizeof b - 1);
        dprintf(out, "fd %.*s", n > 0 ? (int)n : 0, (char *)b);
    } else if (errno == ENOSYS) {
        dprintf(out, "nosys ENOSYS");
    } else {
        dprintf(out, "%s", ename(errno));
    }
}

static void x32_open(int out) {
    /* x32 numbers are the x86-64 ones with bit 30 set. */
    long r = syscall(0x40000000L | SYS_openat, AT_FDCWD, S(), O_RDONLY, 0);
    report_fd_to(out, r);
}

static void i386_open(int out) {
    /* int 0x80 takes 32-bit pointers: put the path below 4 GiB. */
    char *low = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT,
                     -1, 0);
    if (low == MAP_FAILED) {
        dprintf(out, "mmap %s", ename(errno));
        return;
    }
    strcpy(low, S());
    long r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(5L), "b"((long)(uintptr_t)low), "c"(0L), "d"(0L)
                     : "memory");
    if (r < 0) {
        errno = (int)-r;
        r = -1;
    }
    report_fd_to(out, r);
}

static void foreign_abi(void) {
    in_child("x32", "openat with the x32 bit", x32_open);
    in_child("i386", "open through int 0x80", i386_open);
}

/* ---------------------------------------------- a seccomp listener of our own */

static int g_listener = -1;

static void *answer_continue(void *arg) {
    (void)arg;
    struct seccomp_notif req;
    struct seccomp_notif_resp resp;
    for (int i = 0; i < 64; i++) {
        memset(&req, 0, sizeof req);
        if (ioctl(g_listener, SECCOMP_IOCTL_NOTIF_RECV, &req))
            return NULL;
        memset(&resp, 0, sizeof resp);
        resp.id = req.id;
        resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
        ioctl(g_listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
    }
    return NULL;
}

static void own_listener(int out) {
    struct sock_filter prog[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_open, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
    };
    struct sock_fprog fp = {.len = sizeof prog / sizeof *prog, .filter = prog};
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    long l = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &fp);
    if (l < 0) {
        dprintf(out, "seccomp(NEW_LISTENER): %s", ename(errno));
        return;
    }
    g_listener = (int)l;
    pthread_t th;
    pthread_create(&th, NULL, answer_continue, NULL);
    long r = syscall(SYS_openat, AT_FDCWD, S(), O_RDONLY, 0);
    report_fd_to(out, r);
}

static void plain_filter(int out) {
    /* An extra filter that allows everything is accepted, and changes
     * nothing: the broker still decides. */
    struct sock_filter prog[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
    struct sock_fprog fp = {.len = 1, .filter = prog};
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fp) < 0) {
        dprintf(out, "seccomp(plain): %s", ename(errno));
        return;
    }
    report_fd_to(out, syscall(SYS_openat, AT_FDCWD, S(), O_RDONLY, 0));
}

static void seccomp_listener(void) {
    in_child("seccomp_listener", "own listener answering CONTINUE", own_listener);
    if (!g_control)
        in_child("seccomp_listener", "extra ALLOW filter", plain_filter);
}

/* --------------------------------------------------------------- exec */

/* Runs argv with execve in a child whose output we read back. */
static void exec_child(const char *name, const char *what, const char *path, char *const argv[],
                       int memfd) {
    int pfd[2];
    if (pipe(pfd)) {
        ERROR(name, "pipe");
        return;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        dup2(pfd[1], 1);
        dup2(pfd[1], 2);
        extern char **environ;
        if (memfd >= 0)
            syscall(SYS_execveat, memfd, "", argv, environ, AT_EMPTY_PATH);
        else
            execve(path, argv, environ);
        dprintf(1, "execve: %s\n", ename(errno));
        _exit(126);
    }
    close(pfd[1]);
    unsigned char buf[4096];
    ssize_t k = 0, r;
    while (k < (ssize_t)sizeof buf - 1 && (r = read(pfd[0], buf + k, sizeof buf - 1 - k)) > 0)
        k += r;
    buf[k] = 0;
    close(pfd[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    /* Whatever the program printed, indented, for the record. */
    char *line = (char *)buf, *nl;
    int shown = 0;
    while (*line && shown < 30) {
        nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        if (!strncmp(line, "blocked ", 8) || !strncmp(line, "SUCCEEDED ", 10) ||
            !strncmp(line, "error ", 6))
            LINE("%s", line); /* the inner program's own verdicts */
        else
            LINE("info %s: %s: %s", name, what, line);
        shown++;
        if (!nl)
            break;
        line = nl + 1;
    }
    if (has_secret(buf, (size_t)k))
        SUCCEEDED(name, "%s printed the secret", what);
    else
        BLOCKED(name, "%s: status %#x, no secret", what, st);
}

static void exec_attacks(void) {
    const char *n = "execve";
    char *cat[] = {"cat", (char *)S(), NULL};
    exec_child(n, "execve /usr/bin/cat", "/usr/bin/cat", cat, -1);
    exec_child(n, "execve /bin/sh -c cat", "/bin/sh",
               (char *[]){"sh", "-c", "cat \"$0\"", (char *)S(), NULL}, -1);
    /* The ELF loader is executable (every dynamic program needs it); it can
     * load another program by path, but only through brokered opens. */
    exec_child(n, "ld.so /usr/bin/cat", "/lib64/ld-linux-x86-64.so.2",
               (char *[]){"ld.so", "/usr/bin/cat", (char *)S(), NULL}, -1);
    int m = (int)syscall(SYS_memfd_create, "script", 0);
    if (m >= 0) {
        dprintf(m, "#!/bin/sh\ncat %s\n", S());
        exec_child(n, "execveat of a memfd script", NULL, (char *[]){"script", NULL}, m);
        close(m);
    }
    const char *self = getenv("ATTACK_SELF");
    if (self && !g_control)
        exec_child(n, "re-executing itself", self, (char *[]){"bypass", "inner", NULL}, -1);
}

/* What a program started by execve still cannot do: it is confined too. */
static void inner(void) {
    int fd = open(S(), O_RDONLY);
    if (fd >= 0)
        got_fd("execve", "the re-executed program's open", fd);
    else
        BLOCKED("execve", "re-executed program opening the secret: %s", ename(errno));
    must_fail("execve", "re-executed program unshare(CLONE_NEWUSER)", unshare(CLONE_NEWUSER));
    must_fail("execve", "re-executed program socket(AF_INET)", socket(AF_INET, SOCK_STREAM, 0));
}

/* --------------------------------------------------------- namespaces */

static void ns_unshare(int out) {
    int flags[] = {CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWUSER | CLONE_NEWNS, CLONE_NEWNET,
                   CLONE_NEWPID, CLONE_NEWIPC};
    for (size_t i = 0; i < sizeof flags / sizeof *flags; i++)
        if (unshare(flags[i]) == 0) {
            dprintf(out, "fd unshare(%#x) worked", flags[i]);
            return;
        }
    dprintf(out, "unshare: %s", ename(errno));
}

static void namespaces(void) {
    const char *n = "namespaces";
    in_child(n, "unshare", ns_unshare);
    fflush(stdout);
    long r = syscall(SYS_clone, (long)(CLONE_NEWUSER | SIGCHLD), 0L, 0L, 0L, 0L);
    if (r == 0)
        _exit(0);
    if (r > 0)
        waitpid((pid_t)r, NULL, 0);
    must_fail(n, "clone(CLONE_NEWUSER)", r);
    r = syscall(SYS_clone, (long)(CLONE_NEWNS | CLONE_NEWPID | SIGCHLD), 0L, 0L, 0L, 0L);
    if (r == 0)
        _exit(0);
    if (r > 0)
        waitpid((pid_t)r, NULL, 0);
    must_fail(n, "clone(CLONE_NEWNS|CLONE_NEWPID)", r);
    struct {
        uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
    } args = {.flags = CLONE_NEWUSER, .exit_signal = SIGCHLD};
    r = syscall(SYS_clone3, &args, sizeof args);
    if (r == 0)
        _exit(0);
    if (r > 0)
        waitpid((pid_t)r, NULL, 0);
    must_fail(n, "clone3(CLONE_NEWUSER)", r);
    if (!g_control) {
        int pfd = (int)syscall(SYS_pidfd_open, g_victim, 0);
        if (pfd >= 0) {
            must_fail(n, "setns into an unrelated process's namespaces",
                      setns(pfd, CLONE_NEWNS | CLONE_NEWUSER));
            close(pfd);
        }
        must_fail(n, "chroot", chroot(tpath("out")));
        must_fail(n, "mount tmpfs", syscall(SYS_mount, "none", tpath("out"), "tmpfs", 0L, NULL));
    }
}

/* ------------------------------------------------ the broker's process */

static void processes(void) {
    const char *n = "ptrace";
    pid_t targets[2] = {g_broker, g_victim};
    const char *names[2] = {"the broker", "an unrelated process"};
    for (int i = 0; i < 2; i++) {
        pid_t t = targets[i];
        if (t <= 0 || (i == 1 && t == targets[0]))
            continue;
        long r = ptrace(PTRACE_ATTACH, t, NULL, NULL);
        if (r == 0) {
            SUCCEEDED(n, "PTRACE_ATTACH to %s", names[i]);
            waitpid(t, NULL, __WALL);
            ptrace(PTRACE_DETACH, t, NULL, NULL);
        } else {
            BLOCKED(n, "PTRACE_ATTACH to %s: %s", names[i], ename(errno));
        }
        r = ptrace(PTRACE_SEIZE, t, NULL, NULL);
        if (r == 0) {
            SUCCEEDED(n, "PTRACE_SEIZE of %s", names[i]);
            ptrace(PTRACE_DETACH, t, NULL, NULL);
        } else {
            BLOCKED(n, "PTRACE_SEIZE of %s: %s", names[i], ename(errno));
        }
        /* Permission is checked before the address: EFAULT would mean the
         * kernel let us at the other process's memory. */
        char local[64];
        struct iovec l = {local, sizeof local};
        struct iovec rv = {(void *)0x10000, sizeof local};
        r = process_vm_readv(t, &l, 1, &rv, 1, 0);
        if (r >= 0 || errno == EFAULT)
            SUCCEEDED("process_vm", "process_vm_readv of %s: %s", names[i], r >= 0 ? "read" : "EFAULT");
        else
            BLOCKED("process_vm", "process_vm_readv of %s: %s", names[i], ename(errno));
        r = process_vm_writev(t, &l, 1, &rv, 1, 0);
        if (r >= 0 || errno == EFAULT)
            SUCCEEDED("process_vm", "process_vm_writev of %s: %s", names[i], r >= 0 ? "wrote" : "EFAULT");
        else
            BLOCKED("process_vm", "process_vm_writev of %s: %s", names[i], ename(errno));
        int pfd = (int)syscall(SYS_pidfd_open, t, 0);
        if (pfd >= 0) {
            for (int fd = 0; fd < 8; fd++) {
                long g = syscall(SYS_pidfd_getfd, pfd, fd, 0);
                if (g >= 0) {
                    SUCCEEDED("process_vm", "pidfd_getfd(%s, %d)", names[i], fd);
                    close((int)g);
                    break;
                }
                if (fd == 7 || errno != EBADF) {
                    BLOCKED("process_vm", "pidfd_getfd of %s: %s", names[i], ename(errno));
                    break;
                }
            }
            close(pfd);
        }
        char p[64];
        snprintf(p, sizeof p, "/proc/%d/mem", (int)t);
        int fd = open(p, O_RDONLY);
        if (fd >= 0)
            got_fd("process_vm", p, fd);
        else
            BLOCKED("process_vm", "open %s: %s", p, ename(errno));
    }
}

static void signals(void) {
    const char *n = "signals";
    signal(SIGUSR1, SIG_IGN);
    pid_t targets[2] = {g_broker, g_victim};
    const char *names[2] = {"the broker", "an unrelated process"};
    for (int i = 0; i < 2; i++) {
        pid_t t = targets[i];
        if (t <= 0 || (i == 1 && t == targets[0]))
            continue;
        must_fail(n, i ? "kill(victim, 0)" : "kill(broker, 0)", kill(t, 0));
        int pfd = (int)syscall(SYS_pidfd_open, t, 0);
        if (pfd >= 0) {
            must_fail(n, "pidfd_send_signal(0)", syscall(SYS_pidfd_send_signal, pfd, 0, NULL, 0));
            close(pfd);
        }
        if (g_control)
            continue;
        /* For real: the runner checks that both are still alive. */
        must_fail(n, i ? "kill(victim, SIGKILL)" : "kill(broker, SIGKILL)", kill(t, SIGKILL));
        must_fail(n, "tgkill SIGKILL", syscall(SYS_tgkill, t, t, SIGKILL));
        must_fail(n, "rt_sigqueueinfo SIGKILL",
                  syscall(SYS_rt_sigqueueinfo, t, SIGKILL, &(siginfo_t){.si_code = SI_QUEUE}));
        (void)names;
    }
    if (!g_control) {
        /* Our process group holds the broker: only the sandbox's own
         * members may get it (SIGUSR1 is ignored by them, fatal to the
         * broker). */
        kill(0, SIGUSR1);
        LINE("info %s: kill(0, SIGUSR1) sent to our process group", n);
        BLOCKED(n, "kill(0, SIGUSR1): the runner checks that the broker survived");
    }
}

/* ------------------------------------------------------------- sockets */

static void try_connect(const char *n, const char *what, int domain, int type,
                        const struct sockaddr *a, socklen_t al, int must_block) {
    int s = socket(domain, type | SOCK_CLOEXEC, 0);
    if (s < 0) {
        BLOCKED(n, "%s: socket: %s", what, ename(errno));
        return;
    }
    int r = connect(s, a, al);
    if (r == 0 && must_block) {
        (void)!write(s, "x", 1);
        SUCCEEDED(n, "%s: connected", what);
    } else if (r == 0) {
        LINE("info %s: %s connected (allowed with network = true)", n, what);
    } else {
        BLOCKED(n, "%s: connect: %s", what, ename(errno));
    }
    close(s);
}

static void sockets(void) {
    const char *n = "sockets";
    int net = getenv("ATTACK_NETWORK") && !strcmp(getenv("ATTACK_NETWORK"), "1");
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    socklen_t unl;
    const char *abs = getenv("ATTACK_ABSTRACT");
    if (abs) {
        /* Abstract sockets made outside are out of reach whatever the
         * network setting (Landlock's scope). */
        un.sun_path[0] = 0;
        strncpy(un.sun_path + 1, abs, sizeof un.sun_path - 2);
        unl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(abs));
        try_connect(n, "abstract unix socket", AF_UNIX, SOCK_STREAM, (struct sockaddr *)&un, unl, 1);
    }
    const char *path = getenv("ATTACK_UNIX_PATH");
    if (path) {
        memset(&un, 0, sizeof un);
        un.sun_family = AF_UNIX;
        strncpy(un.sun_path, path, sizeof un.sun_path - 1);
        try_connect(n, "pathname unix socket", AF_UNIX, SOCK_STREAM, (struct sockaddr *)&un,
                    sizeof un, !net);
    }
    const char *port = getenv("ATTACK_INET_PORT");
    if (port) {
        struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port))};
        in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        try_connect(n, "AF_INET loopback", AF_INET, SOCK_STREAM, (struct sockaddr *)&in, sizeof in,
                    !net);
        try_connect(n, "AF_INET6 loopback", AF_INET6, SOCK_STREAM, (struct sockaddr *)&in, sizeof in,
                    !net);
    }
    if (net)
        return;
    must_fail(n, "socket(AF_NETLINK)", socket(AF_NETLINK, SOCK_RAW, 0));
    must_fail(n, "socket(AF_PACKET)", socket(AF_PACKET, SOCK_RAW, 0));
    must_fail(n, "socket(AF_INET, SOCK_DGRAM)", socket(AF_INET, SOCK_DGRAM, 0));
    int sv[2];
    must_fail(n, "socketpair(AF_UNIX, SOCK_DGRAM)", socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
    must_fail(n, "socketpair(AF_INET)", socketpair(AF_INET, SOCK_STREAM, 0, sv));
    /* A seqpacket pair ignores a destination address: the datagram goes to
     * the peer, never to the runner's socket (which checks). */
    const char *dg = getenv("ATTACK_DGRAM_PATH");
    if (dg && socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0) {
        memset(&un, 0, sizeof un);
        un.sun_family = AF_UNIX;
        strncpy(un.sun_path, dg, sizeof un.sun_path - 1);
        ssize_t r = sendto(sv[0], "leak", 4, 0, (struct sockaddr *)&un, sizeof un);
        LINE("info %s: sendto(seqpacket pair, runner's datagram socket): %s", n,
             r < 0 ? ename(errno) : "sent (to the peer)");
        r = sendto(broker_sock() >= 0 ? broker_sock() : sv[1], "", 0, MSG_DONTWAIT,
                   (struct sockaddr *)&un, sizeof un);
        (void)r;
        close(sv[0]);
        close(sv[1]);
        BLOCKED(n, "datagram to the runner's socket: the runner checks that nothing arrived");
    }
}

/* ----------------------------------------------------- terminal injection */

static void tiocsti(void) {
    const char *n = "tiocsti";
    if (!getenv("ATTACK_TTY") || !isatty(0)) {
        SKIP(n, "standard input is not a terminal");
        return;
    }
    int fds[] = {0, 1, 2};
    for (size_t i = 0; i < 3; i++) {
        if (!isatty(fds[i]))
            continue;
        char c = '#';
        int r = ioctl(fds[i], TIOCSTI, &c);
        if (r == 0)
            SUCCEEDED(n, "TIOCSTI on fd %d injected a byte", fds[i]);
        else
            BLOCKED(n, "TIOCSTI on fd %d: %s", fds[i], ename(errno));
    }
    char sub[2] = {3, 0}; /* TIOCLINUX: paste the selection */
    must_fail(n, "TIOCLINUX", ioctl(0, TIOCLINUX, sub));
    must_fail(n, "open /dev/tty", open("/dev/tty", O_RDWR));
}

/* ----------------------------------------------------- terminal changes */

/* Changes to the terminal shared with the caller that would outlive the
 * program: refused. Unconfined the harmless ones are made for real (the line
 * discipline set to the one it has, the size to the one it has, exclusive
 * mode undone at once); those that would hang up or detach the control's
 * own terminal are only tried confined. */
static void terminal(void) {
    const char *n = "terminal";
    if (!getenv("ATTACK_TTY") || !isatty(0)) {
        SKIP(n, "standard input is not a terminal");
        return;
    }
    int ldisc = 0;
    ioctl(0, TIOCGETD, &ldisc);
    must_fail(n, "TIOCSETD (line discipline)", ioctl(0, TIOCSETD, &ldisc));
    struct winsize ws;
    memset(&ws, 0, sizeof ws);
    ioctl(0, TIOCGWINSZ, &ws);
    must_fail(n, "TIOCSWINSZ (window size)", ioctl(0, TIOCSWINSZ, &ws));
    long excl = ioctl(0, TIOCEXCL);
    must_fail(n, "TIOCEXCL (exclusive mode)", excl);
    if (excl == 0)
        ioctl(0, TIOCNXCL);
    must_fail(n, "TIOCSCTTY (steal it)", ioctl(0, TIOCSCTTY, 1));
    if (g_control)
        return;
    must_fail(n, "TIOCNOTTY (give it up)", ioctl(0, TIOCNOTTY));
    must_fail(n, "TIOCCONS (console output)", ioctl(0, TIOCCONS));
    must_fail(n, "TIOCVHANGUP", ioctl(0, TIOCVHANGUP));
    struct termios lock;
    memset(&lock, 0xff, sizeof lock);
    must_fail(n, "TIOCSLCKTRMIOS", ioctl(0, TIOCSLCKTRMIOS, &lock));
}

/* After the last handshake: a new process group takes the terminal's
 * foreground and leaves it without echo, canonical input or signals, then
 * everything exits. The shell of tty_wrap checks that fdbroker put it back
 * (or, unconfined, that it stayed changed). */
static void terminal_parting_shot(void) {
    if (!getenv("ATTACK_TTY") || !isatty(0))
        return;
    signal(SIGTTOU, SIG_IGN);
    pid_t p = fork();
    if (p == 0) {
        setpgid(0, 0);
        tcsetpgrp(0, getpid());
        struct termios t;
        if (tcgetattr(0, &t) == 0) {
            t.c_lflag &= ~(tcflag_t)(ECHO | ICANON | ISIG);
            t.c_cc[VMIN] = 0;
            tcsetattr(0, TCSANOW, &t);
        }
        _exit(0);
    }
    if (p > 0)
        waitpid(p, NULL, 0);
}

/* ---------------------------------------------------------- environment */

/* The runner puts credentials in fdbroker's environment (and, unconfined,
 * in ours): the program must not see them, by getenv or in its own
 * /proc/self/environ. Only names are printed, never values. */
static void environment(void) {
    const char *n = "environment";
    static const char *secrets[] = {"AWS_SECRET_ACCESS_KEY", "SSH_AUTH_SOCK"};
    for (size_t i = 0; i < sizeof secrets / sizeof *secrets; i++) {
        if (getenv(secrets[i]))
            SUCCEEDED(n, "%s is in the environment", secrets[i]);
        else
            BLOCKED(n, "%s is not in the environment", secrets[i]);
    }
    int fd = open("/proc/self/environ", O_RDONLY);
    if (fd < 0) {
        BLOCKED(n, "/proc/self/environ: %s", ename(errno));
        return;
    }
    static char buf[1 << 16];
    size_t len = 0;
    ssize_t r;
    while (len < sizeof buf - 1 && (r = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)r;
    close(fd);
    int found = 0;
    for (size_t off = 0; off < len; off += strlen(buf + off) + 1) {
        for (size_t i = 0; i < sizeof secrets / sizeof *secrets; i++) {
            size_t k = strlen(secrets[i]);
            if (!strncmp(buf + off, secrets[i], k) && buf[off + k] == '=') {
                SUCCEEDED(n, "%s is in /proc/self/environ", secrets[i]);
                found = 1;
            }
        }
    }
    if (!found)
        BLOCKED(n, "no credential in /proc/self/environ (%zu bytes)", len);
}

/* ---------------------------------------------- changing files by path */

static void mutations(void) {
    const char *n = "fs_mutations";
    char o[PATH_MAX], o2[PATH_MAX];
    const char *targets[2] = {P(), S()};
    int ro = open(P(), O_RDONLY);
    if (ro < 0 && !g_control)
        ERROR(n, "opening the protected file read-only (allowed) failed: %s", ename(errno));
    for (int i = 0; i < 2; i++) {
        const char *t = targets[i];
        snprintf(o, sizeof o, "%s/out/link%d", g_root, i);
        must_fail(n, "link into the writable tree", link(t, o));
        must_fail(n, "linkat", linkat(AT_FDCWD, t, AT_FDCWD, o, 0));
        /* A symlink may be made where creating is allowed (its target is
         * not judged); what is reached through it is judged as the target. */
        if (symlink(t, o) == 0 || errno == EEXIST) {
            must_fail(n, "write through a symlink planted in the writable tree",
                      open(o, O_WRONLY));
            if (i == 1)
                must_fail(n, "read the secret through a symlink in the writable tree",
                          open(o, O_RDONLY));
        } else if (!g_control) {
            ERROR(n, "symlink in out/ (allowed: create) failed: %s", ename(errno));
        }
        snprintf(o, sizeof o, "%s/out/moved%d", g_root, i);
        must_fail(n, "rename out", rename(t, o));
        must_fail(n, "truncate", truncate(t, 0));
        must_fail(n, "chmod", chmod(t, 0777));
        must_fail(n, "fchmodat", fchmodat(AT_FDCWD, t, 0777, 0));
        must_fail(n, "fchmodat2", syscall(SYS_fchmodat2, AT_FDCWD, t, 0777, 0));
        must_fail(n, "chown", chown(t, getuid(), getgid()));
        must_fail(n, "lchown", lchown(t, getuid(), getgid()));
        must_fail(n, "fchownat", fchownat(AT_FDCWD, t, getuid(), getgid(), 0));
        must_fail(n, "utimensat", utimensat(AT_FDCWD, t, NULL, 0));
        must_fail(n, "utimes", utimes(t, NULL));
        must_fail(n, "utime", utime(t, NULL));
        must_fail(n, "setxattr", setxattr(t, "user.pwned", "1", 1, 0));
        must_fail(n, "lsetxattr", lsetxattr(t, "user.pwned", "1", 1, 0));
        must_fail(n, "removexattr", removexattr(t, "user.keep"));
        must_fail(n, "open O_WRONLY", open(t, O_WRONLY));
        must_fail(n, "open O_RDWR|O_APPEND", open(t, O_RDWR | O_APPEND));
        must_fail(n, "open O_WRONLY|O_TRUNC", open(t, O_WRONLY | O_TRUNC));
        must_fail(n, "open O_RDONLY|O_TRUNC", open(t, O_RDONLY | O_TRUNC));
        must_fail(n, "creat", creat(t, 0644));
        must_fail(n, "unlink", unlink(t));
    }
    /* Replace the protected file with one we made where creating is allowed. */
    snprintf(o, sizeof o, "%s/out/mine", g_root);
    int mine = open(o, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    if (mine >= 0) {
        (void)!write(mine, "PWNED\n", 6);
        close(mine);
        must_fail(n, "rename over the protected file", rename(o, P()));
        must_fail(n, "RENAME_EXCHANGE with the protected file",
                  syscall(SYS_renameat2, AT_FDCWD, o, AT_FDCWD, P(), 2 /* RENAME_EXCHANGE */));
        must_fail(n, "rename over the secret", rename(o, S()));
    } else if (!g_control) {
        ERROR(n, "creating in out/ (allowed) failed: %s", ename(errno));
    }
    must_fail(n, "rmdir", rmdir(tpath("pub/emptydir")));
    must_fail(n, "unlinkat(AT_REMOVEDIR)", unlinkat(AT_FDCWD, tpath("pub/emptydir"), AT_REMOVEDIR));
    must_fail(n, "mkdir in the read-only tree", mkdir(tpath("pub/newdir"), 0755));
    must_fail(n, "mkdir in the secret", mkdir(tpath("secret/newdir"), 0755));
    must_fail(n, "mknod FIFO", mknod(tpath("out/fifo2"), S_IFIFO | 0666, 0));
    must_fail(n, "mkfifo in pub", mkfifo(tpath("pub/fifo2"), 0666));
    must_fail(n, "symlink in pub", symlink(S(), tpath("pub/planted")));
    snprintf(o2, sizeof o2, "%s/out/newfile", g_root);
    must_fail(n, "creat in pub", creat(tpath("pub/newfile"), 0644));
    /* On the descriptor the broker opened read-only. */
    if (ro >= 0) {
        must_fail(n, "write on the read-only descriptor", write(ro, "PWNED", 5));
        must_fail(n, "ftruncate on it", ftruncate(ro, 0));
        must_fail(n, "fchmod on it", fchmod(ro, 0777));
        must_fail(n, "fchown on it", fchown(ro, getuid(), getgid()));
        must_fail(n, "futimens on it", futimens(ro, NULL));
        must_fail(n, "fsetxattr on it", fsetxattr(ro, "user.pwned", "1", 1, 0));
        must_fail(n, "fremovexattr on it", fremovexattr(ro, "user.keep"));
        must_fail(n, "fallocate on it", fallocate(ro, 0, 0, 4096));
        void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0);
        must_fail(n, "mmap(PROT_WRITE, MAP_SHARED) on it", m == MAP_FAILED ? -1 : 0);
        /* File attributes through ioctl: the kernel checks only that we own
         * the file (we do: the runner gave it to our user), not the
         * descriptor's access mode. */
        int flags = 0;
        if (ioctl(ro, FS_IOC_GETFLAGS, &flags) == 0) {
            int more = flags | FS_NODUMP_FL | FS_NOATIME_FL;
            must_fail(n, "ioctl(FS_IOC_SETFLAGS) on it", ioctl(ro, FS_IOC_SETFLAGS, &more));
        } else {
            LINE("info %s: FS_IOC_GETFLAGS: %s", n, ename(errno));
            must_fail(n, "ioctl(FS_IOC_SETFLAGS) on it", ioctl(ro, FS_IOC_SETFLAGS, &flags));
        }
        struct fsxattr fx;
        memset(&fx, 0, sizeof fx);
        ioctl(ro, FS_IOC_FSGETXATTR, &fx);
        fx.fsx_xflags |= FS_XFLAG_NODUMP;
        must_fail(n, "ioctl(FS_IOC_FSSETXATTR) on it", ioctl(ro, FS_IOC_FSSETXATTR, &fx));
        int gen = 1234;
        must_fail(n, "ioctl(FS_IOC_SETVERSION) on it", ioctl(ro, FS_IOC_SETVERSION, &gen));
        /* The broker writes stat results into our memory with the kernel's
         * "force" access: pointing it at a read-only shared mapping of the
         * protected file must not write the file. */
        void *shared = mmap(NULL, 4096, PROT_READ, MAP_SHARED, ro, 0);
        if (shared != MAP_FAILED) {
            struct stat *sb = shared;
            long r = stat(tpath("pub/public.txt"), sb);
            LINE("info %s: stat into a read-only shared mapping: %s", n, r ? ename(errno) : "OK");
            char *lb = shared;
            r = readlink(tpath("pub/link_file"), lb, 64);
            LINE("info %s: readlink into it: %s", n, r < 0 ? ename(errno) : "OK");
            r = syscall(SYS_statx, AT_FDCWD, tpath("pub/public.txt"), 0, STATX_BASIC_STATS, shared);
            LINE("info %s: statx into it: %s", n, r ? ename(errno) : "OK");
            BLOCKED(n, "results written into a read-only shared mapping (the runner checks the file)");
            munmap(shared, 4096);
        }
        snprintf(o, sizeof o, "%s/out/hardlink", g_root);
        must_fail(n, "linkat(AT_EMPTY_PATH) of it into out/",
                  linkat(ro, "", AT_FDCWD, o, AT_EMPTY_PATH));
        char pp[64];
        snprintf(pp, sizeof pp, "/proc/self/fd/%d", ro);
        must_fail(n, "linkat(/proc/self/fd/N, AT_SYMLINK_FOLLOW) into out/",
                  linkat(AT_FDCWD, pp, AT_FDCWD, o, AT_SYMLINK_FOLLOW));
        close(ro);
    }
}

/* -------------------------------------- other ways to query or act by path */

static void misc(void) {
    const char *n = "metadata_by_path";
    struct statfs sf;
    must_fail(n, "statfs", statfs(S(), &sf));
    char b[256];
    must_fail(n, "getxattr", getxattr(S(), "user.keep", b, sizeof b));
    must_fail(n, "listxattr", listxattr(S(), b, sizeof b));
    int in = inotify_init1(IN_CLOEXEC);
    if (in >= 0) {
        must_fail(n, "inotify_add_watch", inotify_add_watch(in, S(), IN_ALL_EVENTS));
        close(in);
    }
    n = "kernel_facilities";
    must_fail(n, "bpf(BPF_MAP_CREATE)", syscall(SYS_bpf, 0, &(char[72]){0}, 72));
    must_fail(n, "keyctl(GET_KEYRING_ID)", syscall(SYS_keyctl, 0, -3 /* session */, 0));
    must_fail(n, "add_key", syscall(SYS_add_key, "user", "x", "y", 1, -3));
    must_fail(n, "perf_event_open", syscall(SYS_perf_event_open, &(char[128]){0}, 0, -1, -1, 0));
    must_fail(n, "userfaultfd", syscall(SYS_userfaultfd, O_CLOEXEC));
    must_fail(n, "mq_open", syscall(SYS_mq_open, "attack", O_CREAT | O_RDWR, 0600, NULL));
    must_fail(n, "fanotify_init", syscall(SYS_fanotify_init, 0, O_RDONLY));
    must_fail(n, "acct", syscall(SYS_acct, tpath("out/acct")));
    must_fail(n, "uselib", syscall(SYS_uselib, S()));
    must_fail(n, "open_tree", syscall(SYS_open_tree, AT_FDCWD, tpath("secret"), 1 /* CLONE */));
    must_fail(n, "fsopen", syscall(SYS_fsopen, "tmpfs", 0));
}

int main(int argc, char **argv) {
    const char *first = argc > 1 ? argv[1] : "all";
    if (!strcmp(first, "handle"))
        return argc > 2 ? print_handle(argv[2]) : 2;
    init_common();
    if (!strcmp(first, "inner")) {
        inner();
        return 0;
    }
    if (!g_control)
        control_public("before");
    ready();
    if (!g_control)
        bystander_start();
    struct {
        const char *name;
        void (*fn)(void);
    } attacks[] = {
        {"io_uring", io_uring},         {"open_by_handle_at", by_handle},
        {"foreign_abi", foreign_abi},   {"seccomp_listener", seccomp_listener},
        {"execve", exec_attacks},       {"namespaces", namespaces},
        {"processes", processes},       {"signals", signals},
        {"sockets", sockets},           {"tiocsti", tiocsti},
        {"environment", environment},   {"terminal", terminal},
        {"fs_mutations", mutations},    {"misc", misc},
    };
    for (size_t i = 0; i < sizeof attacks / sizeof *attacks; i++) {
        int wanted = !strcmp(first, "all");
        for (int a = 1; a < argc; a++)
            wanted |= !strcmp(argv[a], attacks[i].name);
        if (wanted)
            attacks[i].fn();
    }
    if (!g_control) {
        bystander_stop();
        control_public("after");
    }
    done();
    int wanted = !strcmp(first, "all");
    for (int a = 1; a < argc; a++)
        wanted |= !strcmp(argv[a], "terminal");
    if (wanted)
        terminal_parting_shot();
    return 0;
}
