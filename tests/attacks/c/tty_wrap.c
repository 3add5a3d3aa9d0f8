/*
 * tty_wrap CMD [ARGS...]: runs CMD as the foreground job of a session whose
 * controlling terminal, and CMD's standard input, is a fresh
 * pseudo-terminal, as an interactive shell on a real terminal would
 * (`fdbroker run` started from one). Our own standard input is copied to the
 * terminal (so the runner's "go" and "end" lines still arrive); what the
 * terminal echoes is discarded. Standard output and error are passed
 * through. Exits with CMD's status.
 *
 * The session leader plays the shell: it makes CMD's process group the
 * terminal's foreground group, notes the terminal's state (modes, window
 * size, line discipline, exclusive mode, foreground group), and when CMD
 * has ended compares: `ok terminal_restored: ...` when everything is as
 * before, `fail terminal_restored: ...` naming what is not; with
 * ATTACK_CONTROL=1 (CMD is the attack program itself, unconfined) the
 * program's changes must show: `control terminal changed unconfined ok`.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

struct state {
    struct termios modes;
    struct winsize size;
    int ldisc;
    int excl;
    pid_t fg;
};

static int get_state(int fd, struct state *s) {
    memset(s, 0, sizeof *s);
    if (tcgetattr(fd, &s->modes) || ioctl(fd, TIOCGWINSZ, &s->size) ||
        ioctl(fd, TIOCGETD, &s->ldisc))
        return -1;
    if (ioctl(fd, TIOCGEXCL, &s->excl))
        s->excl = -1;
    s->fg = tcgetpgrp(fd);
    return 0;
}

/* What differs, as words; empty when nothing does. */
static void diff(const struct state *a, const struct state *b, char *out, size_t n) {
    out[0] = 0;
    if (a->modes.c_iflag != b->modes.c_iflag || a->modes.c_oflag != b->modes.c_oflag ||
        a->modes.c_cflag != b->modes.c_cflag || a->modes.c_lflag != b->modes.c_lflag ||
        memcmp(a->modes.c_cc, b->modes.c_cc, sizeof a->modes.c_cc))
        snprintf(out + strlen(out), n - strlen(out), " modes (lflag %#x -> %#x)",
                 (unsigned)a->modes.c_lflag, (unsigned)b->modes.c_lflag);
    if (a->size.ws_row != b->size.ws_row || a->size.ws_col != b->size.ws_col)
        snprintf(out + strlen(out), n - strlen(out), " size (%ux%u -> %ux%u)",
                 a->size.ws_col, a->size.ws_row, b->size.ws_col, b->size.ws_row);
    if (a->ldisc != b->ldisc)
        snprintf(out + strlen(out), n - strlen(out), " line discipline (%d -> %d)", a->ldisc,
                 b->ldisc);
    if (a->excl != b->excl)
        snprintf(out + strlen(out), n - strlen(out), " exclusive mode (%d -> %d)", a->excl,
                 b->excl);
    if (a->fg != b->fg)
        snprintf(out + strlen(out), n - strlen(out), " foreground group (%d -> %d)", (int)a->fg,
                 (int)b->fg);
}

/* The session leader: runs CMD as its foreground job and checks the
 * terminal afterwards. */
static int shell(const char *name, char **argv) {
    setsid();
    int s = open(name, O_RDWR);
    if (s < 0 || ioctl(s, TIOCSCTTY, 0) < 0) {
        perror("tty_wrap: slave");
        return 125;
    }
    int go[2];
    if (pipe(go)) {
        perror("tty_wrap: pipe");
        return 125;
    }
    pid_t job = fork();
    if (job < 0) {
        perror("tty_wrap: fork");
        return 125;
    }
    if (job == 0) {
        setpgid(0, 0);
        close(go[1]);
        char c;
        (void)!read(go[0], &c, 1);
        dup2(s, 0);
        if (s != 0)
            close(s);
        execvp(argv[0], argv);
        perror("tty_wrap: exec");
        _exit(127);
    }
    setpgid(job, job);
    tcsetpgrp(s, job);
    struct state before, after;
    if (get_state(s, &before)) {
        perror("tty_wrap: terminal state");
        return 125;
    }
    close(go[1]);
    int st;
    while (waitpid(job, &st, 0) < 0 && errno == EINTR)
        ;
    char what[512];
    if (get_state(s, &after))
        snprintf(what, sizeof what, " unreadable (%s)", strerror(errno));
    else
        diff(&before, &after, what, sizeof what);
    const char *control = getenv("ATTACK_CONTROL");
    if (control && !strcmp(control, "1"))
        printf("control terminal changed unconfined%s %s\n", what, what[0] ? "ok" : "FAILED");
    else if (what[0])
        printf("fail terminal_restored: not as before:%s\n", what);
    else
        printf("ok terminal_restored: modes, size, line discipline, exclusive mode and "
               "foreground group as before\n");
    fflush(stdout);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: tty_wrap CMD [ARGS...]\n");
        return 2;
    }
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0 || grantpt(m) || unlockpt(m)) {
        perror("tty_wrap: posix_openpt");
        return 125;
    }
    const char *name = ptsname(m);
    if (!name) {
        perror("tty_wrap: ptsname");
        return 125;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("tty_wrap: fork");
        return 125;
    }
    if (pid == 0)
        _exit(shell(name, argv + 1));
    signal(SIGPIPE, SIG_IGN);
    int in_open = 1, m_open = 1;
    for (;;) {
        int st;
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        struct pollfd p[2] = {{.fd = in_open ? 0 : -1, .events = POLLIN},
                              {.fd = m_open ? m : -1, .events = POLLIN}};
        if (poll(p, 2, 50) < 0 && errno != EINTR)
            return 125;
        char buf[512];
        if (in_open && (p[0].revents & (POLLIN | POLLHUP))) {
            ssize_t n = read(0, buf, sizeof buf);
            if (n <= 0)
                in_open = 0;
            else
                (void)!write(m, buf, (size_t)n);
        }
        if (m_open && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            if (read(m, buf, sizeof buf) <= 0)
                m_open = 0;
        }
    }
}
