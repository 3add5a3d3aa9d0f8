/* The least a supervising launcher can do: start PROGRAM in a child, wait
 * for it, exit with its status. Linked statically, so that no dynamic
 * loading is counted. fdbench times `launch-floor /bin/true` as the floor
 * any separate sandbox launcher (fdbroker run, bubblewrap) pays on this
 * machine before doing anything of its own. */
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2)
        return 2;
    pid_t pid = fork();
    if (pid < 0)
        return 125;
    if (pid == 0) {
        execv(argv[1], argv + 1);
        _exit(127);
    }
    int status;
    if (waitpid(pid, &status, 0) < 0)
        return 125;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
