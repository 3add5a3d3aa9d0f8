/* The hostile conditions of container runtimes, without a container runtime.
 *
 *   launch [--refuse NAME[,NAME...]] PROGRAM [ARGS...]
 *       sets no_new_privs, installs a seccomp filter that makes each named
 *       system call (process_vm_readv, setfsuid, setfsgid) fail with EPERM,
 *       as the profiles of Docker 20.10 and containerd 1.6 do for
 *       process_vm_readv without CAP_SYS_PTRACE, and executes PROGRAM;
 *   launch [--refuse ...] --probe
 *       the control: reports on stdout whether this process can read the
 *       memory of a child running as another user (as root: nobody, made
 *       dumpable) with process_vm_readv(2) and by opening /proc/<pid>/mem,
 *       one line each: "process_vm_readv: ok|EPERM|...", "proc_mem: ...".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static const char probe_bytes[] = "fdbroker-launch-probe";

static long number(const char *name) {
    if (strcmp(name, "process_vm_readv") == 0) return SYS_process_vm_readv;
    if (strcmp(name, "setfsuid") == 0) return SYS_setfsuid;
    if (strcmp(name, "setfsgid") == 0) return SYS_setfsgid;
    fprintf(stderr, "launch: unknown system call %s\n", name);
    exit(2);
}

static void refuse(char *names) {
    struct sock_filter prog[32];
    int n = 0;
    long nrs[8];
    int count = 0;
    for (char *tok = strtok(names, ","); tok && count < 8; tok = strtok(NULL, ","))
        nrs[count++] = number(tok);
    prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
    prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
    for (int i = 0; i < count; i++) {
        prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nrs[i], 0, 1);
        prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
    }
    prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    struct sock_fprog fprog = {.len = (unsigned short)n, .filter = prog};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) != 0) {
        perror("launch: seccomp");
        exit(2);
    }
}

static const char *result(int ok) {
    return ok ? "ok" : strerrorname_np(errno);
}

static int probe(void) {
    int ready[2], done[2];
    if (pipe(ready) || pipe(done)) return 2;
    pid_t child = fork();
    if (child == 0) {
        if (getuid() == 0 && (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534)))
            _exit(3);
        prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
        char c = 0;
        if (write(ready[1], &c, 1) != 1) _exit(3);
        (void)!read(done[0], &c, 1);
        _exit(0);
    }
    char c, buf[sizeof probe_bytes] = {0};
    if (child < 0 || read(ready[0], &c, 1) != 1) return 2;
    struct iovec local = {buf, sizeof buf}, remote = {(void *)probe_bytes, sizeof buf};
    errno = 0;
    ssize_t got = process_vm_readv(child, &local, 1, &remote, 1, 0);
    printf("process_vm_readv: %s\n", result(got == (ssize_t)sizeof buf && strcmp(buf, probe_bytes) == 0));
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/mem", (int)child);
    errno = 0;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    printf("proc_mem: %s\n", result(fd >= 0));
    if (fd >= 0) close(fd);
    (void)!write(done[1], &c, 1);
    waitpid(child, NULL, 0);
    return 0;
}

int main(int argc, char **argv) {
    int i = 1;
    if (i + 1 < argc && strcmp(argv[i], "--refuse") == 0) {
        refuse(argv[i + 1]);
        i += 2;
    }
    if (i < argc && strcmp(argv[i], "--probe") == 0) return probe();
    if (i >= argc) {
        fprintf(stderr, "usage: launch [--refuse NAME,...] (--probe | PROGRAM [ARGS...])\n");
        return 2;
    }
    execvp(argv[i], argv + i);
    perror("launch: exec");
    return 127;
}
