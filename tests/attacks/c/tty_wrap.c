/*
 * tty_wrap CMD [ARGS...]: runs CMD in a new session whose controlling
 * terminal, and standard input, is a fresh pseudo-terminal, as a shell on a
 * real terminal would (`fdbroker run` started from an interactive shell).
 * Our own standard input is copied to the terminal (so the runner's "go" and
 * "end" lines still arrive); what the terminal echoes is discarded. Standard
 * output and error are passed through. Exits with CMD's status.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

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
    if (pid == 0) {
        setsid();
        int s = open(name, O_RDWR);
        if (s < 0 || ioctl(s, TIOCSCTTY, 0) < 0) {
            perror("tty_wrap: slave");
            _exit(125);
        }
        dup2(s, 0);
        if (s != 0)
            close(s);
        execvp(argv[1], argv + 1);
        perror("tty_wrap: exec");
        _exit(127);
    }
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
