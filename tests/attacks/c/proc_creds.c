/*
 * /proc and the built-in profiles: the broker must give the program no more
 * than its own credentials would get, and the runtime profile no view of
 * the host (SECURITY.md, guarantee 7). Attacks, each reported per attempt:
 *
 *   pagemap_pfn         /proc/self/pagemap (and thread-self's) must show
 *                       no physical frame number of a present page: the
 *                       kernel shows them only to an opener with
 *                       CAP_SYS_ADMIN
 *   proc_stack          /proc/self/stack, the kernel stack, must not read
 *   proc_net            /proc/self/net/{unix,tcp,udp,...}, /proc/net/unix:
 *                       every socket of the host, not granted by runtime
 *   proc_mounts         /proc/self/{mountinfo,mounts,mountstats},
 *                       /proc/mounts, /etc/mtab: the mount table
 *   profile_root_file   ATTACK_PROFILE_DIR/root-only, a 0600 file of root's
 *                       in a directory the runtime profile grants: neither
 *                       read nor said readable by access(2)
 *   profile_closed_dir  ATTACK_PROFILE_DIR/closed/inner, a 0644 file in a
 *                       0700 directory of root's: neither read nor stat'ed
 *
 * Arguments: "sys" or "proto" (the way in), then "all", "proc" (pagemap_pfn
 * and proc_stack only, for a policy that grants all of /proc itself) or
 * "user_rule" (the policy grants root-only by a rule of its own: it must
 * then read, reported as ok/fail user_rule_root_file).
 */
#include "common.h"

#include <dirent.h>

/* In ATTACK_PROFILE_DIR, when the runner made one (else empty). */
static char g_public[PATH_MAX], g_root_only[PATH_MAX], g_inner[PATH_MAX];

/* A page of ours, present in memory. */
static unsigned char g_page[1 << 16];

static void pagemap_at(const char *path) {
    memset(g_page, 0x5a, sizeof g_page);
    uintptr_t addr = (uintptr_t)g_page + sizeof g_page / 2;
    long psz = sysconf(_SC_PAGESIZE);
    int fd = w_open(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
        BLOCKED("pagemap_pfn", "%s: %s", path, ename(-fd));
        return;
    }
    uint64_t e = 0;
    ssize_t n = pread(fd, &e, sizeof e, (off_t)(addr / (uintptr_t)psz * sizeof e));
    int err = errno;
    close(fd);
    if (n != (ssize_t)sizeof e) {
        BLOCKED("pagemap_pfn", "%s: opened, read %s", path, n < 0 ? ename(err) : "short");
        return;
    }
    uint64_t pfn = e & ((1ULL << 55) - 1);
    if (!(e >> 63)) {
        ERROR("pagemap_pfn", "%s: our page is not present (entry %#llx)", path,
              (unsigned long long)e);
    } else if (pfn) {
        SUCCEEDED("pagemap_pfn", "%s: physical frame %#llx of our page", path,
                  (unsigned long long)pfn);
    } else {
        BLOCKED("pagemap_pfn", "%s: present page, frame number hidden", path);
    }
}

static void pagemap_pfn(void) {
    pagemap_at("/proc/self/pagemap");
    pagemap_at("/proc/thread-self/pagemap");
}

static void stack_at(const char *path) {
    int fd = w_open(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
        BLOCKED("proc_stack", "%s: %s", path, ename(-fd));
        return;
    }
    char buf[512];
    ssize_t n = read(fd, buf, sizeof buf);
    int err = errno;
    close(fd);
    if (n > 0)
        SUCCEEDED("proc_stack", "%s: %zd bytes of our kernel stack", path, n);
    else
        BLOCKED("proc_stack", "%s: opened, read %s", path, n < 0 ? ename(err) : "nothing");
}

static void proc_stack(void) {
    stack_at("/proc/self/stack");
    stack_at("/proc/thread-self/stack");
}

static void proc_net(void) {
    const char *paths[] = {
        "/proc/self/net/unix", "/proc/self/net/tcp", "/proc/self/net/tcp6",
        "/proc/self/net/udp",  "/proc/self/net/dev", "/proc/net/unix",
        "/proc/thread-self/net/unix",
    };
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++)
        expect_refused_open("proc_net", paths[i], O_RDONLY | O_CLOEXEC);
    expect_refused_open("proc_net", "/proc/self/net", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static void proc_mounts(void) {
    const char *paths[] = {
        "/proc/self/mountinfo", "/proc/self/mounts", "/proc/self/mountstats",
        "/proc/mounts", "/proc/thread-self/mountinfo", "/etc/mtab",
    };
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++)
        expect_refused_open("proc_mounts", paths[i], O_RDONLY | O_CLOEXEC);
}

static void profile_root_file(void) {
    const char *p = g_root_only;
    if (!*p) {
        SKIP("profile_root_file", "no ATTACK_PROFILE_DIR (the runner makes one as root)");
        return;
    }
    expect_refused_open("profile_root_file", p, O_RDONLY | O_CLOEXEC);
    int a = w_access(p, R_OK);
    if (a == 0)
        SUCCEEDED("profile_root_file", "access(%s, R_OK) says readable", p);
    else
        BLOCKED("profile_root_file", "access(%s, R_OK): %s", p, ename(-a));
}

static void profile_closed_dir(void) {
    const char *p = g_inner;
    if (!*p) {
        SKIP("profile_closed_dir", "no ATTACK_PROFILE_DIR (the runner makes one as root)");
        return;
    }
    expect_refused_open("profile_closed_dir", p, O_RDONLY | O_CLOEXEC);
    struct stat st;
    int s = w_stat(p, 1, &st);
    if (s == 0)
        SUCCEEDED("profile_closed_dir", "stat(%s): inode %llu", p,
                  (unsigned long long)st.st_ino);
    else
        BLOCKED("profile_closed_dir", "stat(%s): %s", p, ename(-s));
}

/* A rule of the policy's own grants the root-only file: the broker opens it. */
static void user_rule(void) {
    const char *p = g_root_only;
    if (!*p) {
        LINE("fail user_rule_root_file: no ATTACK_PROFILE_DIR");
        return;
    }
    int fd = w_open(p, O_RDONLY | O_CLOEXEC, 0);
    unsigned char buf[64];
    ssize_t n = fd >= 0 ? slurp(fd, buf, sizeof buf) : -1;
    if (fd >= 0)
        close(fd);
    /* Never printed: the runner looks for its token in the output. */
    if (n > 0 && has_secret(buf, (size_t)n))
        LINE("ok user_rule_root_file: %s read as granted (%zd bytes)", p, n);
    else
        LINE("fail user_rule_root_file: %s: %s", p, fd < 0 ? ename(-fd) : "unexpected content");
}

/* What a well-behaved program reads in /proc and the profile still works. */
static void controls(void) {
    int fd = w_open("/proc/self/status", O_RDONLY | O_CLOEXEC, 0);
    unsigned char buf[256];
    ssize_t n = fd >= 0 ? slurp(fd, buf, sizeof buf) : -1;
    if (fd >= 0)
        close(fd);
    if (n > 5 && !memcmp(buf, "Name:", 5))
        LINE("control /proc/self/status ok");
    else
        LINE("control /proc/self/status FAILED: %s", fd < 0 ? ename(-fd) : "wrong content");
    fd = w_open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    int entries = 0;
    if (fd >= 0) {
        DIR *d = fdopendir(fd);
        if (d) {
            while (readdir(d))
                entries++;
            closedir(d);
        } else {
            close(fd);
        }
    }
    if (entries > 2)
        LINE("control /proc/self/fd listing ok");
    else
        LINE("control /proc/self/fd listing FAILED: %s", fd < 0 ? ename(-fd) : "empty");
    char link[PATH_MAX];
    ssize_t l = w_readlink("/proc/self/exe", link, sizeof link);
    if (l > 0)
        LINE("control /proc/self/exe link ok");
    else
        LINE("control /proc/self/exe link FAILED: %s", ename((int)-l));
    if (!*g_public)
        return;
    fd = w_open(g_public, O_RDONLY | O_CLOEXEC, 0);
    n = fd >= 0 ? slurp(fd, buf, sizeof buf) : -1;
    if (fd >= 0)
        close(fd);
    if (n >= 6 && !memcmp(buf, "PUBLIC", 6))
        LINE("control a readable file the profile grants ok");
    else
        LINE("control a readable file the profile grants FAILED: %s",
             fd < 0 ? ename(-fd) : "wrong content");
}

int main(int argc, char **argv) {
    init_common();
    const char *only = argc > 2 ? argv[2] : "all";
    const char *dir = getenv("ATTACK_PROFILE_DIR");
    if (dir) {
        snprintf(g_public, sizeof g_public, "%s/public", dir);
        snprintf(g_root_only, sizeof g_root_only, "%s/root-only", dir);
        snprintf(g_inner, sizeof g_inner, "%s/closed/inner", dir);
    }
    int r = start_attacks(argc, argv);
    if (r)
        return r;
    controls();
    if (!strcmp(only, "user_rule")) {
        user_rule();
    } else {
        pagemap_pfn();
        proc_stack();
        if (!strcmp(only, "all")) {
            proc_net();
            proc_mounts();
            profile_root_file();
            profile_closed_dir();
        }
    }
    bystander_stop();
    control_public("after");
    done();
    return 0;
}
