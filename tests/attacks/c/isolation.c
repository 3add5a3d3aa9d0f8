/*
 * Isolation: what the sandbox shares with the rest of the system besides
 * files. Memory-backed executables, System V IPC, other processes'
 * scheduling and limits, existence oracles, other processes' existence,
 * and (run by the runner, see main.rs) processes that try to outlive
 * fdbroker.
 *
 *   isolation all|<attack>...      the attacks (system calls)
 *   isolation ipc-setup KEY        (helper, unconfined) makes a segment, a
 *                                  queue and a semaphore set, 0600, keys
 *                                  KEY, KEY+1, KEY+2; prints their ids
 *   isolation ipc-remove KEY       (helper) removes whatever has keys
 *                                  KEY..KEY+3; prints how many it found
 *   isolation chain MARKER [DELAY_MS [stay]] | daemon MARKER |
 *             ignore-term MARKER   (helpers for the runner's process-tree
 *                                  cases, described there)
 *   isolation ran                  (run by the memfd attacks) prints "ran"
 *
 * Environment: ATTACK_ROOT, ATTACK_VICTIM (an unrelated process of the
 * program's user), ATTACK_IPC_KEY (the keys of the outside objects; the
 * program makes its own at KEY+3), ATTACK_ABSTRACT (an abstract socket
 * name the runner listens on), ATTACK_SELF (this program), ATTACK_CONTROL=1
 * (run unconfined: the attacks must work).
 */
#include "common.h"

#include <sched.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/un.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef MFD_EXEC
#define MFD_EXEC 0x10U
#endif
#ifndef SHM_STAT_ANY
#define SHM_STAT_ANY 15
#endif
#define IOPRIO_WHO_PROCESS 1
#define IOPRIO_WHO_PGRP 2
#define IOPRIO_WHO_USER 3
#define IOPRIO_IDLE (3 << 13)

/* A whole x86-64 program, no loader needed: writes "ran\n", exits 0. */
static const unsigned char TINY_ELF[] = {
    0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x02, 0x00, 0x3e, 0x00, 0x01, 0x00, 0x00, 0x00, 0x78, 0x00, 0x40, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x00, 0x38, 0x00, 0x01, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x9d, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x9d,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xb8, 0x01, 0x00, 0x00, 0x00, 0xbf, 0x01, 0x00, 0x00, 0x00, 0x48, 0x8d, 0x35, 0x10, 0x00,
    0x00, 0x00, 0xba, 0x04, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xb8, 0x3c, 0x00, 0x00, 0x00, 0x31,
    0xff, 0x0f, 0x05, 0x72, 0x61, 0x6e, 0x0a,
};

/* A call that must fail: `r` is its return value, errno as it left it. */
static void must_fail(const char *name, const char *what, long r) {
    if (r < 0)
        BLOCKED(name, "%s: %s", what, ename(errno));
    else
        SUCCEEDED(name, "%s returned %ld", what, r);
}

/* A call the program may make on itself: reported as a verdict of its own. */
static void must_work(const char *name, const char *what, long r) {
    if (r < 0)
        LINE("fail %s: %s: %s", name, what, ename(errno));
    else
        LINE("ok %s: %s", name, what);
}

/* ------------------------------------------------------------ memfd exec */

/* Runs the exec `how` in a child with stdout on a pipe; whether the child
 * printed "ran" (the memory-backed program ran). */
static void exec_child(const char *name, const char *what, int how, int fd, const char *path) {
    int p[2];
    if (pipe(p)) {
        ERROR(name, "pipe: %s", ename(errno));
        return;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], 1);
        char *argv[] = {"isolation", "ran", NULL};
        extern char **environ;
        if (how == 0)
            syscall(SYS_execveat, fd, "", argv, environ, AT_EMPTY_PATH);
        else if (how == 1)
            fexecve(fd, argv, environ);
        else
            execve(path, argv, environ);
        dprintf(1, "exec: %s\n", ename(errno));
        _exit(126);
    }
    close(p[1]);
    char buf[256] = "";
    ssize_t k = 0, r;
    while (k < (ssize_t)sizeof buf - 1 && (r = read(p[0], buf + k, sizeof buf - 1 - k)) > 0)
        k += r;
    buf[k] = 0;
    close(p[0]);
    waitpid(pid, NULL, 0);
    char *nl = strchr(buf, '\n');
    if (nl)
        *nl = 0;
    if (!strcmp(buf, "ran"))
        SUCCEEDED(name, "%s ran", what);
    else
        BLOCKED(name, "%s: %s", what, buf[0] ? buf : "no output");
}

/* Every way to execute a memfd, with an ELF and a script in it. */
static void exec_memfd(const char *name, int m, const char *kind) {
    char what[128], path[64];
    snprintf(what, sizeof what, "execveat(%s, AT_EMPTY_PATH)", kind);
    exec_child(name, what, 0, m, NULL);
    snprintf(what, sizeof what, "fexecve(%s)", kind);
    exec_child(name, what, 1, m, NULL);
    snprintf(path, sizeof path, "/proc/self/fd/%d", m);
    snprintf(what, sizeof what, "execve(%s of %s)", path, kind);
    exec_child(name, what, 2, m, path);
}

static int memfd_with(const char *label, unsigned flags, const void *content, size_t len) {
    int m = (int)syscall(SYS_memfd_create, label, flags);
    if (m < 0)
        return -errno;
    if (write(m, content, len) != (ssize_t)len) {
        close(m);
        return -EIO;
    }
    return m;
}

static void memfd_exec(void) {
    const char *n = "memfd_exec";
    int m = memfd_with("elf", MFD_CLOEXEC, TINY_ELF, sizeof TINY_ELF);
    if (m < 0) {
        ERROR(n, "memfd_create: %s", ename(-m));
        return;
    }
    struct stat st;
    if (!fstat(m, &st))
        LINE("info %s: the memfd's mode is %o", n, st.st_mode & 07777);
    exec_memfd(n, m, "an ELF memfd");
    if (!g_control) {
        must_fail(n, "fchmod(memfd, 0755)", fchmod(m, 0755));
        char p[64];
        snprintf(p, sizeof p, "/proc/self/fd/%d", m);
        must_fail(n, "chmod(/proc/self/fd/N, 0755)", chmod(p, 0755));
        exec_memfd(n, m, "the ELF memfd after chmod");
    }
    close(m);
    /* A script whose interpreter may be executed: this very program. Not
     * close-on-exec, so that the interpreter can open /dev/fd/N. */
    const char *self = getenv("ATTACK_SELF");
    if (self) {
        char script[PATH_MAX + 16];
        int len = snprintf(script, sizeof script, "#!%s ran\n", self);
        m = memfd_with("script", 0, script, (size_t)len);
        if (m >= 0) {
            exec_memfd(n, m, "a #! memfd whose interpreter is granted");
            close(m);
        }
    }
    /* Asking for an executable one outright. */
    m = memfd_with("exec", MFD_CLOEXEC | MFD_EXEC, TINY_ELF, sizeof TINY_ELF);
    if (m >= 0) {
        exec_memfd(n, m, "an MFD_EXEC memfd");
        close(m);
    } else {
        BLOCKED(n, "memfd_create(MFD_EXEC): %s", ename(-m));
    }
    /* Anonymous memory can hold code too, but has no name to execute. */
    if (!g_control) {
        must_work(n, "memfd_create(MFD_CLOEXEC) still works",
                  (m = (int)syscall(SYS_memfd_create, "plain", MFD_CLOEXEC)));
        if (m >= 0) {
            void *map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
            must_work(n, "a memfd can still be sized and mapped",
                      ftruncate(m, 4096) || map == MAP_FAILED ? -1 : 0);
            close(m);
        }
    }
}

/* The same program in real files where the program may create them: a
 * named one, and an O_TMPFILE one (executable only through a read-only
 * reopen of /proc/self/fd/N, as a writable descriptor makes execve fail with
 * ETXTBSY). Landlock checks execution there like anywhere: out/ has no exec
 * grant. */
static void tmpfile_exec(void) {
    const char *n = "tmpfile_exec";
    const char *named = tpath("out/tiny");
    int fd = open(named, O_CREAT | O_WRONLY | O_TRUNC, 0755);
    if (fd >= 0) {
        ssize_t w = write(fd, TINY_ELF, sizeof TINY_ELF);
        close(fd);
        fd = w == (ssize_t)sizeof TINY_ELF ? open(named, O_RDONLY) : -1;
    }
    if (fd >= 0) {
        exec_memfd(n, fd, "a file written in out/");
        close(fd);
    } else {
        ERROR(n, "writing out/tiny (allowed) failed: %s", ename(errno));
    }
    const char *dirs[] = {tpath("out"), "/dev/shm"};
    for (size_t i = 0; i < 2; i++) {
        int w = open(dirs[i], O_TMPFILE | O_RDWR, 0755);
        if (w < 0) {
            LINE("info %s: O_TMPFILE in %s: %s", n, dirs[i], ename(errno));
            continue;
        }
        if (write(w, TINY_ELF, sizeof TINY_ELF) != (ssize_t)sizeof TINY_ELF) {
            ERROR(n, "write: %s", ename(errno));
            close(w);
            continue;
        }
        char p[64], what[PATH_MAX];
        snprintf(p, sizeof p, "/proc/self/fd/%d", w);
        int r = open(p, O_RDONLY | O_CLOEXEC);
        snprintf(what, sizeof what, "an O_TMPFILE file in %s", dirs[i]);
        if (r >= 0) {
            close(w);
            exec_memfd(n, r, what);
            close(r);
        } else {
            LINE("info %s: reopening it read-only: %s", n, ename(errno));
            exec_memfd(n, w, what);
            close(w);
        }
    }
}

/* -------------------------------------------------------------- SysV IPC */

static key_t ipc_key(void) {
    const char *k = getenv("ATTACK_IPC_KEY");
    return k ? (key_t)strtol(k, NULL, 10) : 0;
}

static int ipc_setup(key_t key) {
    int shm = shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0600);
    int msq = msgget(key + 1, IPC_CREAT | IPC_EXCL | 0600);
    int sem = semget(key + 2, 1, IPC_CREAT | IPC_EXCL | 0600);
    if (shm < 0 || msq < 0 || sem < 0) {
        printf("error %s\n", ename(errno));
        return 1;
    }
    char *p = shmat(shm, NULL, 0);
    if (p != (void *)-1) {
        strcpy(p, "OUTSIDE");
        shmdt(p);
    }
    struct {
        long type;
        char text[16];
    } m = {1, "OUTSIDE"};
    msgsnd(msq, &m, sizeof m.text, IPC_NOWAIT);
    printf("ipc %d %d %d\n", shm, msq, sem);
    return 0;
}

static int ipc_remove(key_t key) {
    int found = 0;
    int id = shmget(key, 0, 0);
    if (id >= 0 && !shmctl(id, IPC_RMID, NULL))
        found++;
    id = shmget(key + 3, 0, 0);
    if (id >= 0 && !shmctl(id, IPC_RMID, NULL))
        found += 100;
    id = msgget(key + 1, 0);
    if (id >= 0 && !msgctl(id, IPC_RMID, NULL))
        found++;
    id = semget(key + 2, 0, 0);
    if (id >= 0 && !semctl(id, 0, IPC_RMID))
        found++;
    printf("removed %d\n", found);
    return 0;
}

static void sysv_ipc(void) {
    const char *n = "sysv_ipc";
    key_t key = ipc_key();
    if (!key) {
        ERROR(n, "ATTACK_IPC_KEY is not set");
        return;
    }
    /* By key, as a program that knows the name would. */
    int shm = shmget(key, 0, 0);
    must_fail(n, "shmget of the outside segment's key", shm);
    int msq = msgget(key + 1, 0);
    must_fail(n, "msgget of the outside queue's key", msq);
    int sem = semget(key + 2, 0, 0);
    must_fail(n, "semget of the outside set's key", sem);
    /* By id, guessed (ids are small and predictable): every id the outside
     * objects could have, from SHM_STAT_ANY's list and a scan. */
    int listed = 0;
    struct shmid_ds ds;
    for (int i = 0; i < 4096; i++) {
        int id = shmctl(i, SHM_STAT_ANY, &ds);
        if (id >= 0) {
            listed++;
            if (ds.shm_perm.__key == key) {
                SUCCEEDED(n, "SHM_STAT_ANY lists the outside segment (id %d)", id);
                char *p = shmat(id, NULL, SHM_RDONLY);
                if (p != (void *)-1) {
                    SUCCEEDED(n, "shmat of the outside segment: %.8s", p);
                    shmdt(p);
                }
            }
        }
    }
    if (listed)
        SUCCEEDED(n, "SHM_STAT_ANY listed %d segments the sandbox did not make", listed);
    else
        BLOCKED(n, "SHM_STAT_ANY lists nothing: %s", ename(errno));
    struct {
        long type;
        char text[16];
    } m;
    int msgs = 0, sems = 0;
    for (int id = 0; id < 65536 && (msgs + sems) < 2; id++) {
        if (msgrcv(id, &m, sizeof m.text, 0, IPC_NOWAIT | MSG_NOERROR) >= 0) {
            msgs++;
            SUCCEEDED(n, "msgrcv from queue %d took \"%.8s\"", id, m.text);
        }
        struct sembuf op = {0, 1, IPC_NOWAIT};
        if (semop(id, &op, 1) == 0) {
            sems++;
            SUCCEEDED(n, "semop on set %d", id);
        }
    }
    if (!msgs)
        BLOCKED(n, "no queue reachable by id: %s", ename(errno));
    if (!sems)
        BLOCKED(n, "no semaphore set reachable by id: %s", ename(errno));
    /* One of our own, which must not outlive the run (the runner looks). */
    int mine = shmget(key + 3, 4096, IPC_CREAT | 0600);
    LINE("info %s: a segment of our own: %s", n, mine >= 0 ? "made" : ename(errno));
}

/* ------------------------------------------------ other processes' limits */

/* Runs `fn` on the unrelated process and on the broker (once, in a
 * control run, where the broker is the victim). */
static void each_target(void (*fn)(pid_t t, const char *name)) {
    pid_t targets[2] = {g_victim, g_broker};
    const char *names[2] = {"an unrelated process", "the broker"};
    for (int i = 0; i < 2; i++)
        if (targets[i] > 0 && !(i == 1 && targets[1] == targets[0]))
            fn(targets[i], names[i]);
}

static void other_process(pid_t t, const char *name) {
    const char *n = "other_processes";
    char w[128];
    snprintf(w, sizeof w, "setpriority(PRIO_PROCESS, %s, 19)", name);
    must_fail(n, w, setpriority(PRIO_PROCESS, (id_t)t, 19));
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    snprintf(w, sizeof w, "sched_setaffinity(%s)", name);
    must_fail(n, w, sched_setaffinity(t, sizeof one, &one));
    struct sched_param sp = {0};
    snprintf(w, sizeof w, "sched_setscheduler(%s, SCHED_IDLE)", name);
    must_fail(n, w, sched_setscheduler(t, SCHED_IDLE, &sp));
    snprintf(w, sizeof w, "sched_setparam(%s)", name);
    must_fail(n, w, sched_setparam(t, &sp));
    unsigned attr[14] = {56, SCHED_IDLE};
    snprintf(w, sizeof w, "sched_setattr(%s, SCHED_IDLE)", name);
    must_fail(n, w, syscall(SYS_sched_setattr, t, attr, 0));
    snprintf(w, sizeof w, "ioprio_set(%s, IDLE)", name);
    must_fail(n, w, syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, t, IOPRIO_IDLE));
    struct rlimit cpu = {1, 1};
    snprintf(w, sizeof w, "prlimit(%s, RLIMIT_CPU, 1)", name);
    must_fail(n, w, prlimit(t, RLIMIT_CPU, &cpu, NULL));
}

static void other_processes(void) {
    const char *n = "other_processes";
    each_target(other_process);
    if (!g_control) {
        /* Our process group and our user hold fdbroker (and, as root, every
         * sandbox of nobody's): not ours to change. */
        must_fail(n, "setpriority(PRIO_PGRP, 0, 19)", setpriority(PRIO_PGRP, 0, 19));
        must_fail(n, "setpriority(PRIO_USER, our uid, 19)", setpriority(PRIO_USER, getuid(), 19));
        must_fail(n, "ioprio_set(IOPRIO_WHO_PGRP, 0)",
                  syscall(SYS_ioprio_set, IOPRIO_WHO_PGRP, 0, IOPRIO_IDLE));
        must_fail(n, "ioprio_set(IOPRIO_WHO_USER, our uid)",
                  syscall(SYS_ioprio_set, IOPRIO_WHO_USER, getuid(), IOPRIO_IDLE));
        /* What a program does to itself still works. */
        must_work(n, "nice(1)", nice(1) == -1 && errno ? -1 : 0);
        must_work(n, "setpriority(PRIO_PROCESS, 0, 5)", setpriority(PRIO_PROCESS, 0, 5));
        cpu_set_t all;
        must_work(n, "sched_getaffinity(0)", sched_getaffinity(0, sizeof all, &all));
        must_work(n, "sched_setaffinity(0) to what it had",
                  sched_setaffinity(0, sizeof all, &all));
        must_work(n, "ioprio_set(IOPRIO_WHO_PROCESS, 0, IDLE)",
                  syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, IOPRIO_IDLE));
        struct rlimit own;
        getrlimit(RLIMIT_NOFILE, &own);
        must_work(n, "prlimit(0) of our own", prlimit(0, RLIMIT_NOFILE, &own, NULL));
    }
}

/* ----------------------------------------------------------------- oracles */

static void addr_un(struct sockaddr_un *a, socklen_t *len, const char *path, int abstract) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    if (abstract) {
        strncpy(a->sun_path + 1, path, sizeof a->sun_path - 2);
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(path));
    } else {
        strncpy(a->sun_path, path, sizeof a->sun_path - 1);
        *len = sizeof *a;
    }
}

/* `call` (bind or connect) on a fresh socketpair end with `path`; the errno
 * (0: it worked). */
static int sock_errno(int (*call)(int, const struct sockaddr *, socklen_t), const char *path,
                      int abstract) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
        return -1;
    struct sockaddr_un a;
    socklen_t l;
    addr_un(&a, &l, path, abstract);
    int r = call(sv[0], (struct sockaddr *)&a, l) ? errno : 0;
    close(sv[0]);
    close(sv[1]);
    return r;
}

static void same_answer(const char *name, const char *what, int existing, int missing) {
    if (existing != missing)
        SUCCEEDED(name, "%s: %s for what exists, %s for what does not", what,
                  ename(existing), ename(missing));
    else
        BLOCKED(name, "%s: %s either way", what, ename(existing));
}

static void oracles(void) {
    const char *n = "oracles";
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, (int[2]){0}) && errno == EACCES) {
        ERROR(n, "socketpair is refused: nothing to test");
        return;
    }
    const char *there = tpath("secret/data"), *gone = tpath("secret/nope/x");
    same_answer(n, "bind(pathname)", sock_errno(bind, there, 0), sock_errno(bind, gone, 0));
    same_answer(n, "connect(pathname)", sock_errno(connect, there, 0),
                sock_errno(connect, gone, 0));
    const char *abs = getenv("ATTACK_ABSTRACT");
    if (abs) {
        char fresh[128];
        snprintf(fresh, sizeof fresh, "%s-squat-%d", abs, (int)getpid());
        same_answer(n, "bind(abstract)", sock_errno(bind, abs, 1), sock_errno(bind, fresh, 1));
        int r = sock_errno(bind, fresh, 1);
        if (r == 0)
            SUCCEEDED(n, "bind(abstract %s) claimed a name outside the sandbox", fresh);
        else
            BLOCKED(n, "bind(abstract): %s", ename(r));
    }
    char old[PATH_MAX];
    if (!getcwd(old, sizeof old))
        strcpy(old, "/");
    /* chdir and execve are run by the kernel, checked first by the broker:
     * a hidden directory or file answers what a missing one does. (The
     * secret data is mode 0666: never executable, whoever asks.) */
    int cd_there = chdir(tpath("secret")) ? errno : 0;
    if (!cd_there && chdir(old))
        LINE("info %s: back to %s: %s", n, old, ename(errno));
    same_answer(n, "chdir", cd_there, chdir(tpath("secret/nope")) ? errno : 0);
    char *argv[] = {"x", NULL}, *envp[] = {NULL};
    int ex_there = execve(there, argv, envp) ? errno : 0;
    same_answer(n, "execve", ex_there, execve(gone, argv, envp) ? errno : 0);
    int exat_there = syscall(SYS_execveat, AT_FDCWD, there, argv, envp, 0) ? errno : 0;
    same_answer(n, "execveat", exat_there,
                syscall(SYS_execveat, AT_FDCWD, gone, argv, envp, 0) ? errno : 0);
    /* Should chdir still reach the secret directory (it does unconfined),
     * fstat of the working directory is judged like its path. */
    struct stat here;
    if (!g_control && chdir(tpath("pub")) == 0)
        must_work(n, "fstatat of an allowed working directory",
                  fstatat(AT_FDCWD, "", &here, AT_EMPTY_PATH));
    struct stat secret;
    int have = !g_control ? -1 : stat(tpath("secret"), &secret);
    if (chdir(tpath("secret"))) {
        BLOCKED(n, "chdir into the secret directory: %s", ename(errno));
        if (chdir(old))
            LINE("info %s: back to %s: %s", n, old, ename(errno));
        return;
    }
    struct stat st;
    struct statx sx;
    long r = fstatat(AT_FDCWD, "", &st, AT_EMPTY_PATH);
    if (r == 0)
        SUCCEEDED(n, "fstatat(AT_FDCWD, \"\", AT_EMPTY_PATH) in the secret directory: inode %lu%s",
                  (unsigned long)st.st_ino,
                  have == 0 && st.st_ino == secret.st_ino ? " (its own)" : "");
    else
        BLOCKED(n, "fstatat of the working directory: %s", ename(errno));
    must_fail(n, "statx(AT_FDCWD, \"\", AT_EMPTY_PATH)",
              syscall(SYS_statx, AT_FDCWD, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &sx));
    must_fail(n, "statx(AT_FDCWD, NULL, AT_EMPTY_PATH)",
              syscall(SYS_statx, AT_FDCWD, NULL, AT_EMPTY_PATH, STATX_BASIC_STATS, &sx));
    must_fail(n, "stat(\".\")", stat(".", &st));
    if (chdir(old))
        LINE("info %s: back to %s: %s", n, old, ename(errno));
}

/* -------------------------------------------------------------- residuals */

/* A pid no process has: the highest possible, or below it. */
static pid_t missing_pid(void) {
    for (pid_t p = 4194303; p > 1000; p--)
        if (kill(p, 0) && errno == ESRCH)
            return p;
    return 4194303;
}

static int err_of(long r) { return r < 0 ? errno : 0; }

static pid_t g_gone; /* a pid no process has */

static void residual(pid_t t, const char *name) {
    const char *n = "residuals";
    pid_t gone = g_gone;
    char w[128];
    struct rlimit rl;
    cpu_set_t cs;
    struct sched_param sp;
#define ORACLE(label, call_t, call_gone)                                                   \
    do {                                                                                   \
        snprintf(w, sizeof w, "%s on %s", label, name);                                    \
        errno = 0;                                                                         \
        int a = err_of(call_t);                                                            \
        errno = 0;                                                                         \
        int b = err_of(call_gone);                                                         \
        same_answer(n, w, a, b);                                                           \
    } while (0)
    ORACLE("kill(pid, 0)", kill(t, 0), kill(gone, 0));
    ORACLE("getsid", getsid(t), getsid(gone));
    ORACLE("getpgid", getpgid(t), getpgid(gone));
    ORACLE("getpriority", (errno = 0, getpriority(PRIO_PROCESS, (id_t)t) == -1 && errno ? -1 : 0),
           (errno = 0, getpriority(PRIO_PROCESS, (id_t)gone) == -1 && errno ? -1 : 0));
    ORACLE("prlimit (read)", prlimit(t, RLIMIT_NOFILE, NULL, &rl),
           prlimit(gone, RLIMIT_NOFILE, NULL, &rl));
    ORACLE("sched_getaffinity", sched_getaffinity(t, sizeof cs, &cs),
           sched_getaffinity(gone, sizeof cs, &cs));
    ORACLE("sched_getparam", sched_getparam(t, &sp), sched_getparam(gone, &sp));
    ORACLE("ioprio_get", syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, t),
           syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, gone));
    ORACLE("pidfd_open", syscall(SYS_pidfd_open, t, 0), syscall(SYS_pidfd_open, gone, 0));
#undef ORACLE
}

static void residuals(void) {
    g_gone = missing_pid();
    each_target(residual);
}

/* Under a policy granting all of /proc: the sandbox's init is a copy of the
 * broker, and as out of reach. */
static void sandbox_init(void) {
    const char *n = "sandbox_init";
    if (getpid() != 2) {
        LINE("info %s: no PID namespace (pid %d): the init is the broker", n, (int)getpid());
        BLOCKED(n, "no init of the sandbox's own");
        return;
    }
    const char *files[] = {"/proc/1/environ", "/proc/1/mem", "/proc/1/maps", "/proc/1/status",
                           "/proc/1/fd/0", "/proc/1/cmdline"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        int fd = open(files[i], O_RDONLY);
        if (fd >= 0) {
            SUCCEEDED(n, "%s opened", files[i]);
            close(fd);
        } else {
            BLOCKED(n, "%s: %s", files[i], ename(errno));
        }
    }
    must_work(n, "/proc/self/status is still our own", open("/proc/self/status", O_RDONLY));
    char p[64];
    snprintf(p, sizeof p, "/proc/%d/status", (int)getpid());
    must_work(n, "/proc/<getpid()>/status too", open(p, O_RDONLY));
}

/* ------------------------------------------------- helpers for the runner */

/* Each process forks the next (after `delay_ms`) and exits, for at most
 * 5 s. The first process returns after 200 ms, or with `stay` waits 10 s. */
static int chain(int delay_ms, int stay) {
    time_t start = time(NULL);
    fflush(stdout);
    pid_t first = fork();
    if (first != 0) {
        LINE("started %d", (int)first);
        usleep((stay ? 10000 : 200) * 1000);
        return 0;
    }
    for (;;) {
        if (time(NULL) - start > 5)
            _exit(0);
        if (delay_ms)
            usleep((useconds_t)delay_ms * 1000);
        pid_t c = fork();
        if (c > 0)
            _exit(0);
        if (c < 0)
            usleep(1000);
    }
}

/* Leaves a double-forked, session-leading daemon for 30 s, then waits. */
static int daemon_(void) {
    fflush(stdout);
    pid_t p = fork();
    if (p == 0) {
        setsid();
        if (fork() == 0) {
            for (int i = 0; i < 300; i++)
                usleep(100 * 1000);
            _exit(0);
        }
        _exit(0);
    }
    waitpid(p, NULL, 0);
    LINE("started");
    for (int i = 0; i < 300; i++)
        usleep(100 * 1000);
    return 0;
}

/* Ignores SIGTERM, SIGINT and SIGHUP (and so does its child) for 30 s. */
static int ignore_term(void) {
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    fflush(stdout);
    if (fork() == 0) {
        for (int i = 0; i < 300; i++)
            usleep(100 * 1000);
        _exit(0);
    }
    LINE("started");
    for (int i = 0; i < 300; i++)
        usleep(100 * 1000);
    return 0;
}

int main(int argc, char **argv) {
    const char *first = argc > 1 ? argv[1] : "all";
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!strcmp(first, "ran")) {
        LINE("ran");
        return 0;
    }
    if (!strcmp(first, "ipc-setup"))
        return argc > 2 ? ipc_setup((key_t)atol(argv[2])) : 2;
    if (!strcmp(first, "ipc-remove"))
        return argc > 2 ? ipc_remove((key_t)atol(argv[2])) : 2;
    if (!strcmp(first, "chain"))
        return chain(argc > 3 ? atoi(argv[3]) : 0, argc > 4 && !strcmp(argv[4], "stay"));
    if (!strcmp(first, "daemon"))
        return daemon_();
    if (!strcmp(first, "ignore-term"))
        return ignore_term();
    init_common();
    ready();
    struct {
        const char *name;
        void (*fn)(void);
    } attacks[] = {
        {"memfd_exec", memfd_exec},   {"tmpfile_exec", tmpfile_exec},
        {"sysv_ipc", sysv_ipc},       {"other_processes", other_processes},
        {"oracles", oracles},         {"residuals", residuals},
        {"sandbox_init", sandbox_init},
    };
    for (size_t i = 0; i < sizeof attacks / sizeof *attacks; i++) {
        int wanted = !strcmp(first, "all");
        for (int a = 1; a < argc; a++)
            wanted |= !strcmp(argv[a], attacks[i].name);
        if (wanted)
            attacks[i].fn();
    }
    done();
    return 0;
}
