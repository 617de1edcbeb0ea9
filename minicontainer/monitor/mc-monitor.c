/*
 * mc-monitor: the small process that stays with a detached container.
 *
 * The Python runtime forks a monitor, which creates the namespaces and forks the
 * container's PID 1, then execve(2)s this program, keeping its PID: PID 1 is still
 * its child, so it alone can wait(2) for it. While the container runs it copies the
 * container's output into a log in Docker's json-file format (one JSON object per
 * line: {"log": "...\n", "stream": "stdout", "time": "RFC 3339 with nanoseconds"}).
 * When PID 1 exits it writes the raw wait status to EXITFILE (atomically: a temporary
 * file, then rename(2)) and execs the cleanup command, which records the exit in the
 * container's state and frees its cgroup.
 *
 * Being a few kilobytes of C instead of a Python interpreter is the point: an idle
 * container costs well under a megabyte of monitor memory (compare conmon, or
 * containerd-shim).
 *
 * usage: mc-monitor PID EXITFILE LOGFILE OUTFD ERRFD -- CLEANUP [ARGS...]
 *        (OUTFD may be a pty master, ERRFD then -1; -1 means no such stream)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 16384

struct stream {
    int fd;
    const char *name;
    char buf[LINE_MAX_BYTES];
    size_t len;
};

static int log_fd = -1;

static void put(const char *s, size_t n) {
    while (n > 0) {
        ssize_t w = write(log_fd, s, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return; /* a full disk must not kill the container: drop the line */
        }
        s += w;
        n -= (size_t)w;
    }
}

static void emit(struct stream *st, const char *data, size_t n) {
    char out[LINE_MAX_BYTES * 6 + 256];
    size_t o = 0;
    struct timespec ts;
    struct tm tm;
    char stamp[64];

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    o += (size_t)snprintf(out + o, sizeof out - o, "{\"log\":\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)data[i];
        if (c == '"' || c == '\\') { out[o++] = '\\'; out[o++] = (char)c; }
        else if (c == '\n') { out[o++] = '\\'; out[o++] = 'n'; }
        else if (c == '\r') { out[o++] = '\\'; out[o++] = 'r'; }
        else if (c == '\t') { out[o++] = '\\'; out[o++] = 't'; }
        else if (c < 0x20) o += (size_t)snprintf(out + o, sizeof out - o, "\\u%04x", c);
        else out[o++] = (char)c;
    }
    o += (size_t)snprintf(out + o, sizeof out - o, "\",\"stream\":\"%s\",\"time\":\"%s.%09ldZ\"}\n",
                          st->name, stamp, ts.tv_nsec);
    put(out, o);
}

/* Split what is buffered into lines; a line longer than the buffer is logged in parts. */
static void drain(struct stream *st, int final) {
    size_t start = 0;
    for (size_t i = 0; i < st->len; i++) {
        if (st->buf[i] == '\n') {
            emit(st, st->buf + start, i - start + 1);
            start = i + 1;
        }
    }
    if (start < st->len && (final || (start == 0 && st->len == sizeof st->buf))) {
        emit(st, st->buf + start, st->len - start);
        start = st->len;
    }
    memmove(st->buf, st->buf + start, st->len - start);
    st->len -= start;
}

int main(int argc, char **argv) {
    if (argc < 8 || strcmp(argv[6], "--") != 0) {
        fprintf(stderr, "usage: mc-monitor PID EXITFILE LOGFILE OUTFD ERRFD -- CLEANUP [ARGS...]\n");
        return 2;
    }
    pid_t pid = (pid_t)atoi(argv[1]);
    const char *exitfile = argv[2];
    struct stream streams[2] = {{atoi(argv[4]), "stdout", {0}, 0}, {atoi(argv[5]), "stderr", {0}, 0}};
    signal(SIGPIPE, SIG_IGN);

    log_fd = open(argv[3], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    for (;;) {
        struct pollfd pfd[2];
        int n = 0;
        for (int i = 0; i < 2; i++) {
            if (streams[i].fd >= 0) {
                pfd[n].fd = streams[i].fd;
                pfd[n].events = POLLIN;
                n++;
            }
        }
        if (n == 0) break;
        if (poll(pfd, (nfds_t)n, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int i = 0, k = 0; i < 2; i++) {
            struct stream *st = &streams[i];
            if (st->fd < 0) continue;
            short rev = pfd[k++].revents;
            if (!rev) continue;
            ssize_t r = read(st->fd, st->buf + st->len, sizeof st->buf - st->len);
            if (r > 0) {
                st->len += (size_t)r;
                drain(st, 0);
            } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
                drain(st, 1); /* EOF, or EIO from a pty whose slave side is gone */
                close(st->fd);
                st->fd = -1;
            }
        }
    }

    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) { status = 255 << 8; break; }
    }
    char tmp[4096], text[32];
    snprintf(tmp, sizeof tmp, "%s.tmp", exitfile);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
        int len = snprintf(text, sizeof text, "%d\n", status);
        if (write(fd, text, (size_t)len) == len && close(fd) == 0) rename(tmp, exitfile);
    }
    if (log_fd >= 0) close(log_fd);
    execv(argv[7], argv + 7);
    perror("mc-monitor: cleanup");
    return 1;
}
