/* bb_time: runs a command and prints its wall time and peak RSS.
 *
 *   bb_time OUTFILE COMMAND [ARGS...]
 *
 * Writes "wall=SECONDS maxrss_kib=KIB status=N" to OUTFILE. The command's
 * stdout and stderr are inherited.
 *
 * Why not time it from Python directly: Linux keeps the peak RSS of a
 * process's image before execve (ru_maxrss survives exec), so a command
 * forked from the benchmark's Python interpreter would report Python's ~40 MiB.
 * Forked from this small program it reports its own.
 */
#define _DEFAULT_SOURCE /* wait4 */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bb_time OUTFILE COMMAND [ARGS...]\n");
        return 2;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0) {
        perror("bb_time: fork");
        return 1;
    }
    if (pid == 0) {
        execvp(argv[2], &argv[2]);
        perror("bb_time: exec");
        _exit(127);
    }
    int status = 0;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0) {
        perror("bb_time: wait4");
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double wall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    FILE *out = fopen(argv[1], "w");
    if (!out) {
        perror("bb_time: OUTFILE");
        return 1;
    }
    fprintf(out, "wall=%.6f maxrss_kib=%ld status=%d\n", wall, ru.ru_maxrss, code);
    fclose(out);
    return code;
}
