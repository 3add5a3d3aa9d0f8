/*
 * Hostile programs for tests/limits.rs, one per mode. Each prints what it
 * got as far as, one line per step, with write(2) (no stdio buffer to lose
 * when it is killed), so that the test can check how far it got.
 *
 *   hostile balloon MIB          allocate and touch MIB MiB, 1 MiB at a time
 *   hostile spin SECONDS         use SECONDS of CPU time, then exit 0
 *   hostile sleeper              ignore SIGTERM and SIGHUP, fork one child
 *                                that does too, both sleep
 *   hostile forkbomb MAX         every process forks until MAX processes
 *                                were made, then sleeps; the first one exits
 *                                0 then, or 3 after a failed fork
 *   hostile filebomb PATH MIB    write MIB MiB to PATH
 *   hostile fdflood PATH MAX     open PATH until MAX are open or open fails
 *   hostile hold PATH N          a child floods descriptors until EMFILE and
 *                                stays; meanwhile this process opens and
 *                                closes PATH N times
 *   hostile opens PATH N         open and close PATH N times
 *   hostile prlimit-parent       try to lower the parent's RLIMIT_NOFILE
 *   hostile widen                ask for every CPU (sched_setaffinity of
 *                                itself), then print the CPUs it may use
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void say(const char *fmt, ...) {
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (n > (int)sizeof buf - 2)
        n = sizeof buf - 2;
    buf[n++] = '\n';
    (void)!write(1, buf, n);
}

static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int balloon(long mib) {
    for (long i = 1; i <= mib; i++) {
        char *p = malloc(1 << 20);
        if (!p) {
            say("malloc failed after %ld MiB", i - 1);
            return 3;
        }
        memset(p, 1, 1 << 20);
        say("touched %ld MiB", i);
    }
    return 0;
}

static int spin(double seconds) {
    volatile unsigned long x = 0;
    while (cpu_seconds() < seconds)
        for (int i = 0; i < 100000; i++)
            x++;
    say("spun %.2f s", cpu_seconds());
    return 0;
}

static int sleeper(void) {
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    pid_t pid = fork();
    if (pid == 0) {
        say("child %d", getpid());
        for (;;)
            pause();
    }
    say("sleeping");
    for (;;)
        pause();
    return 0;
}

static int forkbomb(long max) {
    pid_t first = getpid();
    /* A pipe of MAX tokens: each fork takes one, so that without a limit
       the bomb stops at MAX processes made. */
    int tokens[2];
    if (pipe2(tokens, O_NONBLOCK) < 0)
        return 1;
    for (long i = 0; i < max; i++)
        if (write(tokens[1], "x", 1) != 1)
            return 1;
    for (;;) {
        char c;
        if (read(tokens[0], &c, 1) != 1) {
            if (getpid() == first) {
                usleep(300 * 1000);
                say("made all %ld", max);
                return 0;
            }
            for (;;)
                pause();
        }
        pid_t pid = fork();
        if (pid == 0) {
            say("child %d", getpid());
            continue; /* the child forks too */
        }
        if (pid < 0) {
            say("fork failed: %d", errno);
            if (getpid() == first) {
                usleep(300 * 1000);
                return 3;
            }
            for (;;)
                pause();
        }
    }
}

static int filebomb(const char *path, long mib) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        say("open failed: %d", errno);
        return 1;
    }
    static char chunk[64 * 1024];
    memset(chunk, 'z', sizeof chunk);
    long total = 0;
    while (total < mib << 20) {
        ssize_t n = write(fd, chunk, sizeof chunk);
        if (n < 0) {
            say("write failed after %ld: %d", total, errno);
            return 4;
        }
        total += n;
    }
    say("wrote %ld", total);
    return 0;
}

static int fdflood(const char *path, long max) {
    for (long i = 0; i < max; i++) {
        if (open(path, O_RDONLY) < 0) {
            say("opened %ld, then errno %d", i, errno);
            return 5;
        }
    }
    say("opened %ld", max);
    return 0;
}

/* Opens and closes PATH N times; how many opens worked. */
static long open_close(const char *path, long n) {
    long ok = 0;
    for (long i = 0; i < n; i++) {
        int fd = open(path, O_RDONLY);
        if (fd >= 0) {
            ok++;
            close(fd);
        }
    }
    return ok;
}

static int hold(const char *path, long n) {
    int ready[2];
    if (pipe(ready) < 0)
        return 1;
    pid_t pid = fork();
    if (pid == 0) {
        int got = 0;
        while (open(path, O_RDONLY) >= 0)
            got++;
        say("child at the limit after %d: errno %d", got, errno);
        (void)!write(ready[1], "x", 1);
        for (;;)
            pause();
    }
    char c;
    if (read(ready[0], &c, 1) != 1)
        return 1;
    long ok = open_close(path, n);
    say("served %ld of %ld", ok, n);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return ok == n ? 0 : 6;
}

static int opens(const char *path, long n) {
    long ok = open_close(path, n);
    say("opened %ld of %ld", ok, n);
    return ok == n ? 0 : 6;
}

static int prlimit_parent(void) {
    struct rlimit one = {1, 1};
    int r = prlimit(getppid(), RLIMIT_NOFILE, &one, NULL);
    say("prlimit parent: %d errno %d", r, r ? errno : 0);
    return 0;
}

static int widen(void) {
    cpu_set_t all;
    CPU_ZERO(&all);
    for (int c = 0; c < CPU_SETSIZE; c++)
        CPU_SET(c, &all);
    int r = sched_setaffinity(0, sizeof all, &all);
    say("widen: %d errno %d", r, r ? errno : 0);
    cpu_set_t now;
    if (sched_getaffinity(0, sizeof now, &now))
        return 5;
    char list[4096] = "";
    size_t len = 0;
    for (int c = 0; c < CPU_SETSIZE && len + 16 < sizeof list; c++)
        if (CPU_ISSET(c, &now))
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%d", len ? "," : "", c);
    say("cpus %s", list);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2)
        return 2;
    const char *m = argv[1];
    long a = argc > 2 ? atol(argv[2]) : 0;
    long b = argc > 3 ? atol(argv[3]) : 0;
    if (!strcmp(m, "balloon"))
        return balloon(a);
    if (!strcmp(m, "spin"))
        return spin(atof(argv[2]));
    if (!strcmp(m, "sleeper"))
        return sleeper();
    if (!strcmp(m, "forkbomb"))
        return forkbomb(a);
    if (!strcmp(m, "filebomb"))
        return filebomb(argv[2], b);
    if (!strcmp(m, "fdflood"))
        return fdflood(argv[2], b);
    if (!strcmp(m, "hold"))
        return hold(argv[2], b);
    if (!strcmp(m, "opens"))
        return opens(argv[2], b);
    if (!strcmp(m, "prlimit-parent"))
        return prlimit_parent();
    if (!strcmp(m, "widen"))
        return widen();
    return 2;
}
