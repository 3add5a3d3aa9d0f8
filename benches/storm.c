/* Signal storm over brokered opens: counts descriptors left behind
 * (docs/performance.md, "Receivers, delivery, credentials", item 2).
 *
 *   storm PATH             open+close PATH in a loop while a second thread
 *                          sends SIGUSR1 to the first without SA_RESTART:
 *                          run it under `fdbroker run` or any supervisor.
 *   storm PATH --supervise the same in a child whose openat is served by a
 *                          minimal supervisor here that installs the
 *                          descriptor with ADDFD and then answers with SEND,
 *                          its callers waiting interruptibly: a signal
 *                          between the two steps leaves a descriptor behind.
 * STORM_OPENS sets the number of opens (default 20000).
 * Prints "opens=N eintr=E handled=H stray=S".
 * Build: cc -O2 -pthread -o storm benches/storm.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXFD 1024
static atomic_int stop;
static atomic_long handled;
static pid_t main_tid;

static void on_usr1(int s) { (void)s; atomic_fetch_add(&handled, 1); }

static void *storm(void *a) {
    (void)a;
    struct timespec t = {0, 2000};
    while (!atomic_load(&stop)) {
        syscall(SYS_tgkill, getpid(), main_tid, SIGUSR1);
        nanosleep(&t, NULL);
    }
    return NULL;
}

static void open_fds(char *set) {
    for (int fd = 0; fd < MAXFD; fd++) set[fd] = fcntl(fd, F_GETFD) != -1;
}

static int loop(const char *path, long n) {
    char before[MAXFD], after[MAXFD];
    open_fds(before);
    struct sigaction sa = {0};
    sa.sa_handler = on_usr1; /* no SA_RESTART: an interrupted open fails EINTR */
    sigaction(SIGUSR1, &sa, NULL);
    main_tid = (pid_t)syscall(SYS_gettid);
    pthread_t th;
    if (pthread_create(&th, NULL, storm, NULL)) return 2;
    long eintr = 0, opens = 0;
    for (long i = 0; i < n; i++) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR) { eintr++; continue; }
            perror("open");
            return 2;
        }
        opens++;
        close(fd);
    }
    atomic_store(&stop, 1);
    pthread_join(th, NULL);
    signal(SIGUSR1, SIG_IGN);
    open_fds(after);
    int stray = 0;
    for (int fd = 0; fd < MAXFD; fd++) stray += after[fd] && !before[fd];
    printf("opens=%ld eintr=%ld handled=%ld stray=%d\n", opens, eintr, atomic_load(&handled), stray);
    fflush(stdout);
    return 0;
}

static int send_fd(int s, int fd) {
    char c = 0, cb[CMSG_SPACE(sizeof(int))];
    struct iovec io = {&c, 1};
    struct msghdr m = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = cb, .msg_controllen = sizeof cb};
    struct cmsghdr *h = CMSG_FIRSTHDR(&m);
    h->cmsg_level = SOL_SOCKET; h->cmsg_type = SCM_RIGHTS; h->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(h), &fd, sizeof fd);
    return sendmsg(s, &m, 0) == 1 ? 0 : -1;
}

static int recv_fd(int s) {
    char c, cb[CMSG_SPACE(sizeof(int))];
    struct iovec io = {&c, 1};
    struct msghdr m = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = cb, .msg_controllen = sizeof cb};
    if (recvmsg(s, &m, 0) != 1) return -1;
    struct cmsghdr *h = CMSG_FIRSTHDR(&m);
    if (!h || h->cmsg_type != SCM_RIGHTS) return -1;
    int fd;
    memcpy(&fd, CMSG_DATA(h), sizeof fd);
    return fd;
}

static int supervised(const char *path, long n) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) return 2;
    pid_t pid = fork();
    if (pid < 0) return 2;
    if (pid == 0) {
        struct sock_filter prog[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog fp = {4, prog};
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) _exit(2);
        int l = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &fp);
        if (l < 0 || send_fd(sv[1], l)) _exit(2);
        close(l);
        _exit(loop(path, n));
    }
    int listener = recv_fd(sv[0]);
    int file = open(path, O_RDONLY | O_CLOEXEC);
    if (listener < 0 || file < 0) return 2;
    for (;;) {
        struct seccomp_notif req;
        memset(&req, 0, sizeof req);
        if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &req)) {
            if (errno == EINTR) continue;
            break; /* ENOENT: the child is gone */
        }
        struct seccomp_notif_addfd add = {.id = req.id, .srcfd = (unsigned)file, .newfd_flags = O_CLOEXEC};
        int nfd = ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &add);
        struct seccomp_notif_resp resp = {.id = req.id, .val = nfd, .error = nfd < 0 ? -errno : 0};
        ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 2;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    long n = getenv("STORM_OPENS") ? atol(getenv("STORM_OPENS")) : 20000;
    if (argc > 2 && !strcmp(argv[2], "--supervise")) return supervised(argv[1], n);
    return loop(argv[1], n);
}
