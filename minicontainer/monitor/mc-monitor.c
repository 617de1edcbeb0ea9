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
 * A container run with -i also has a standard input, and the monitor holds its writing
 * end (the write side of a pipe, or the pty master with -t): it listens on a unix socket,
 * ATTACHSOCK in the container's directory, and copies what any client connected there
 * sends into the container's stdin -- how `docker attach` reaches a running container's
 * stdin whichever engine process started it (conmon's attach socket plays the same part).
 * With --stdin-once the first client's end-of-file closes the container's stdin (what
 * `docker run -i` asks for: `echo hi | docker run -i busybox cat` must see EOF); without
 * it the stdin stays open for the next client (`docker run -dit`, then `docker attach`).
 *
 * usage: mc-monitor PID EXITFILE LOGFILE OUTFD ERRFD [--tty] [--stdin FD ATTACHSOCK [--stdin-once]]
 *                   -- CLEANUP [ARGS...]
 *        (OUTFD may be a pty master, ERRFD then -1; -1 means no such stream. With --tty,
 *        output is logged as it arrives, partial lines included: a shell's prompt has no
 *        newline, and an attached terminal must see it.)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 16384
#define MAX_CLIENTS 16

struct stream {
    int fd;
    const char *name;
    char buf[LINE_MAX_BYTES];
    size_t len;
};

static int log_fd = -1;
static int tty_mode = 0;

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
    if (start < st->len && (final || tty_mode || (start == 0 && st->len == sizeof st->buf))) {
        emit(st, st->buf + start, st->len - start);
        start = st->len;
    }
    memmove(st->buf, st->buf + start, st->len - start);
    st->len -= start;
}

/* The stdin side: a listening socket, its clients, and what is waiting to be written. */
struct input {
    int fd;                 /* the container's stdin (pipe write end or pty master), -1 once closed */
    int listen_fd;
    int clients[MAX_CLIENTS];
    int once;               /* --stdin-once: a client's end-of-file closes the container's stdin */
    int close_when_flushed;
    char pending[65536];
    size_t len;
};

/* bind(2) a unix socket at PATH even when PATH is longer than sun_path allows (a state root in a
 * deep temporary directory): bind its last component from inside its directory, then come back. */
static int listen_at(const char *path) {
    char dir[4096];
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (strlen(base) >= sizeof(((struct sockaddr_un *)0)->sun_path)) return -1;
    int here = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (here < 0) return -1;
    if (slash) {
        size_t n = (size_t)(slash - path);
        if (n == 0) n = 1;
        if (n >= sizeof dir) { close(here); return -1; }
        memcpy(dir, path, n);
        dir[n] = 0;
        if (chdir(dir) < 0) { close(here); return -1; }
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strcpy(addr.sun_path, base);
    unlink(base);
    mode_t old = umask(077);    /* whoever may write here may type into the container */
    if (fd >= 0 && (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, MAX_CLIENTS) < 0)) {
        close(fd);
        fd = -1;
    }
    umask(old);
    if (fchdir(here) < 0) { /* stay where we are: every path we use is absolute */ }
    close(here);
    return fd;
}

static void close_input(struct input *in, int shared_with_output) {
    if (in->fd >= 0 && !shared_with_output) close(in->fd);
    in->fd = -1;
    in->len = 0;
}

/* Write what is pending; a full pipe (the container is not reading) just waits for POLLOUT. */
static void flush_input(struct input *in, int shared) {
    while (in->fd >= 0 && in->len > 0) {
        ssize_t w = write(in->fd, in->pending, in->len);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN) close_input(in, shared);   /* EPIPE: nobody reads the stdin any more */
            return;
        }
        memmove(in->pending, in->pending + w, in->len - (size_t)w);
        in->len -= (size_t)w;
    }
    if (in->fd >= 0 && in->len == 0 && in->close_when_flushed) close_input(in, shared);
}

int main(int argc, char **argv) {
    if (argc < 8) {
        fprintf(stderr, "usage: mc-monitor PID EXITFILE LOGFILE OUTFD ERRFD [--tty] "
                        "[--stdin FD ATTACHSOCK [--stdin-once]] -- CLEANUP [ARGS...]\n");
        return 2;
    }
    pid_t pid = (pid_t)atoi(argv[1]);
    const char *exitfile = argv[2];
    struct stream streams[2] = {{atoi(argv[4]), "stdout", {0}, 0}, {atoi(argv[5]), "stderr", {0}, 0}};
    static struct input in = {.fd = -1, .listen_fd = -1};
    const char *sock_path = NULL;
    int cleanup = 6;
    for (; cleanup < argc && strcmp(argv[cleanup], "--") != 0; cleanup++) {
        if (strcmp(argv[cleanup], "--tty") == 0) tty_mode = 1;
        else if (strcmp(argv[cleanup], "--stdin-once") == 0) in.once = 1;
        else if (strcmp(argv[cleanup], "--stdin") == 0 && cleanup + 2 < argc) {
            in.fd = atoi(argv[++cleanup]);
            sock_path = argv[++cleanup];
        } else {
            fprintf(stderr, "mc-monitor: unknown option %s\n", argv[cleanup]);
            return 2;
        }
    }
    if (cleanup + 1 >= argc) {
        fprintf(stderr, "mc-monitor: no cleanup command after --\n");
        return 2;
    }
    cleanup++;
    for (int i = 0; i < MAX_CLIENTS; i++) in.clients[i] = -1;
    signal(SIGPIPE, SIG_IGN);

    log_fd = open(argv[3], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    int shared = in.fd >= 0 && in.fd == streams[0].fd;     /* -t: the pty master is both */
    if (in.fd >= 0) {
        fcntl(in.fd, F_SETFL, fcntl(in.fd, F_GETFL) | O_NONBLOCK);
        in.listen_fd = listen_at(sock_path);
        if (in.listen_fd < 0) perror("mc-monitor: attach socket");
    }
    for (;;) {
        struct pollfd pfd[4 + MAX_CLIENTS];
        int n = 0, first_client;
        for (int i = 0; i < 2; i++) {
            if (streams[i].fd >= 0) {
                pfd[n].fd = streams[i].fd;
                pfd[n].events = POLLIN;
                n++;
            }
        }
        if (n == 0) break;
        int out_n = n, listen_at_k = -1, input_at_k = -1;
        if (in.listen_fd >= 0) {
            listen_at_k = n;
            pfd[n].fd = in.listen_fd;
            pfd[n++].events = POLLIN;
        }
        if (in.fd >= 0 && in.len > 0 && !shared) {
            input_at_k = n;
            pfd[n].fd = in.fd;
            pfd[n++].events = POLLOUT;
        }
        first_client = n;
        for (int i = 0; i < MAX_CLIENTS; i++) {
            if (in.clients[i] < 0) continue;
            pfd[n].fd = in.clients[i];
            pfd[n++].events = in.len == 0 ? POLLIN : 0;   /* read no more than we can write */
        }
        if (poll(pfd, (nfds_t)n, in.len > 0 && shared ? 20 : -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int i = 0, k = 0; i < 2 && k < out_n; i++) {
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
                if (shared && i == 0) in.fd = -1;
                close(st->fd);
                st->fd = -1;
            }
        }
        if (input_at_k >= 0 && pfd[input_at_k].revents) flush_input(&in, shared);
        if (shared && in.len > 0) flush_input(&in, shared);
        for (int k = first_client; k < n; k++) {
            if (!pfd[k].revents) continue;
            int slot = -1;
            for (int i = 0; i < MAX_CLIENTS; i++) if (in.clients[i] == pfd[k].fd) slot = i;
            if (slot < 0) continue;
            ssize_t r = in.len == 0 ? read(pfd[k].fd, in.pending, sizeof in.pending) : 0;
            if (r > 0 && in.fd >= 0) {
                in.len = (size_t)r;
                flush_input(&in, shared);
            } else if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN)) {
                close(pfd[k].fd);
                in.clients[slot] = -1;
                if (in.once && in.fd >= 0 && !shared) {
                    in.close_when_flushed = 1;
                    flush_input(&in, shared);
                }
            }
        }
        if (listen_at_k >= 0 && pfd[listen_at_k].revents) {
            int c = accept4(in.listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
            int placed = 0;
            for (int i = 0; c >= 0 && i < MAX_CLIENTS && !placed; i++)
                if (in.clients[i] < 0) { in.clients[i] = c; placed = 1; }
            if (c >= 0 && !placed) close(c);
        }
    }
    if (in.listen_fd >= 0) {
        close(in.listen_fd);
        unlink(sock_path);
    }
    for (int i = 0; i < MAX_CLIENTS; i++) if (in.clients[i] >= 0) close(in.clients[i]);
    if (in.fd >= 0 && !shared) close(in.fd);

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
    execv(argv[cleanup], argv + cleanup);
    perror("mc-monitor: cleanup");
    return 1;
}
