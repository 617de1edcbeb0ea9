/* mc-timer: run a fixed amount of work and say how long it took, in nanoseconds.
 *
 * The same static binary runs on the host, in a container (bind-mounted) and as
 * /bin/mc-timer in the VM's initramfs, so every environment is timed by the same code
 * with the same clock: clock_gettime(CLOCK_MONOTONIC) for elapsed time and
 * clock_gettime(CLOCK_PROCESS_CPUTIME_ID) for the CPU time the process itself used
 * (see clock_gettime(2)). Built by `make` (python -m vmcompare.timer): cc -static -O2.
 *
 *   mc-timer cpu N        N million rounds of an integer mixing function (registers only)
 *   mc-timer memory N     N passes of memset + sum over a 64 MiB buffer (memory bandwidth)
 *   mc-timer syscall N    N thousand getppid(2) calls via syscall(2): the cheapest real system call
 *   mc-timer badread N    N thousand read(-1, buf, 0) calls: refused at once with EBADF (another cheap
 *                         call, one that a seccomp filter may decide in fewer instructions)
 *   mc-timer exec CMD...  fork + execvp CMD, wait for it; its exit status is reported
 *
 * Output, one line:  @@t work=N ns=ELAPSED cpu_ns=CPU rc=STATUS [check=X]
 * (cpu_ns of `exec` is the children's CPU time, from getrusage(RUSAGE_CHILDREN)).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BUF_BYTES (64UL << 20)

static int64_t now_ns(clockid_t clock) {
    struct timespec ts;
    if (clock_gettime(clock, &ts) != 0) {
        perror("mc-timer: clock_gettime");
        exit(2);
    }
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t tv_ns(struct timeval tv) { return (int64_t)tv.tv_sec * 1000000000LL + tv.tv_usec * 1000LL; }

static uint64_t work_cpu(long n) {
    uint64_t x = 0x9e3779b97f4a7c15ULL, acc = 0;
    for (long i = 0; i < n * 1000000L; i++) {   /* splitmix64's finaliser: multiplies, shifts, xors */
        x += 0x9e3779b97f4a7c15ULL;
        uint64_t z = x;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        acc ^= z ^ (z >> 31);
    }
    return acc;
}

static uint64_t work_memory(long n) {
    unsigned char *buf = malloc(BUF_BYTES);
    if (!buf) {
        perror("mc-timer: malloc");
        exit(2);
    }
    uint64_t acc = 0;
    for (long i = 0; i < n; i++) {
        memset(buf, (int)(i & 0xff), BUF_BYTES);              /* write the whole buffer */
        const uint64_t *w = (const uint64_t *)buf;
        for (size_t j = 0; j < BUF_BYTES / 8; j += 8)        /* read it back, one word per cache line */
            acc += w[j];
    }
    free(buf);
    return acc;
}

static uint64_t work_syscall(long n) {
    uint64_t acc = 0;
    for (long i = 0; i < n * 1000L; i++)
        acc += (uint64_t)syscall(SYS_getppid);               /* never cached by libc */
    return acc;
}

static uint64_t work_badread(long n) {
    uint64_t acc = 0;
    char byte;
    for (long i = 0; i < n * 1000L; i++)
        acc += (uint64_t)syscall(SYS_read, -1, &byte, 0);    /* -1: EBADF, nothing is read */
    return acc;
}

static int usage(void) {
    fprintf(stderr, "usage: mc-timer cpu|memory|syscall|badread N | mc-timer exec CMD [ARG...]\n");
    return 64;
}

int main(int argc, char **argv) {
    if (argc < 3)
        return usage();
    if (strcmp(argv[1], "exec") == 0) {
        int64_t t0 = now_ns(CLOCK_MONOTONIC);
        pid_t pid = fork();
        if (pid < 0) {
            perror("mc-timer: fork");
            return 2;
        }
        if (pid == 0) {
            execvp(argv[2], argv + 2);
            fprintf(stderr, "mc-timer: exec %s: %s\n", argv[2], strerror(errno));
            _exit(127);
        }
        int status = 0;
        while (waitpid(pid, &status, 0) < 0)
            if (errno != EINTR) {
                perror("mc-timer: waitpid");
                return 2;
            }
        int64_t t1 = now_ns(CLOCK_MONOTONIC);
        struct rusage ru;
        getrusage(RUSAGE_CHILDREN, &ru);
        int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        printf("@@t work=1 ns=%lld cpu_ns=%lld rc=%d\n", (long long)(t1 - t0),
               (long long)(tv_ns(ru.ru_utime) + tv_ns(ru.ru_stime)), rc);
        return 0;
    }
    char *end = NULL;
    long n = strtol(argv[2], &end, 10);
    if (!end || *end || n < 1)
        return usage();
    uint64_t (*fn)(long) = strcmp(argv[1], "cpu") == 0       ? work_cpu
                           : strcmp(argv[1], "memory") == 0  ? work_memory
                           : strcmp(argv[1], "syscall") == 0 ? work_syscall
                           : strcmp(argv[1], "badread") == 0 ? work_badread
                                                             : NULL;
    if (!fn)
        return usage();
    int64_t c0 = now_ns(CLOCK_PROCESS_CPUTIME_ID), t0 = now_ns(CLOCK_MONOTONIC);
    uint64_t check = fn(n);
    int64_t t1 = now_ns(CLOCK_MONOTONIC), c1 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
    printf("@@t work=%ld ns=%lld cpu_ns=%lld rc=0 check=%llx\n", n, (long long)(t1 - t0), (long long)(c1 - c0),
           (unsigned long long)check);
    return 0;
}
