/* The floor of `kovra run`'s shape, for issue 16's first goal (bench/floor.sh).
 *
 * `kovra run -- true` is a client that hands its terminal descriptors and environment to a
 * daemon over a unix socket; the daemon starts the program with them, relays its output
 * through pipes (where redaction happens), writes a durable audit record, and answers with
 * the exit code. This program is that shape with nothing else: no policy, no vault, no
 * peer check, no JSON, no threads. Whatever it costs over `env X=y true`, no design of
 * this shape can undercut, so it says how much of goal 1 is left to win.
 *
 *   floor serve SOCKET [pipes] [audit FILE N]   a daemon; `pipes` relays the child's output
 *                                               through pipes, `audit` appends N records of
 *                                               300 bytes to FILE and fdatasyncs it per run
 *   floor run SOCKET -- PROGRAM [ARGS...]       the client; exits with the program's code
 *
 * Written by hand because it is the thing measured: any library would add its own cost.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

enum { MSG_MAX = 256 * 1024, MAX_WORDS = 4096 };

static int dial(const char *path, int listen_too) {
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof a.sun_path) return -1;
    strcpy(a.sun_path, path);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) return -1;
    if (listen_too) {
        unlink(path);
        if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 64)) return -1;
    } else if (connect(s, (struct sockaddr *)&a, sizeof a)) {
        return -1;
    }
    return s;
}

/* Client: one message carrying stdin/stdout/stderr and "argc\0argv...\0environ...\0". */
static int client(const char *path, char **argv) {
    static char buf[MSG_MAX];
    size_t n = 0;
    int argc = 0;
    while (argv[argc]) argc++;
    n += (size_t)snprintf(buf, sizeof buf, "%d", argc) + 1;
    for (char **w = argv; *w; w++) {
        size_t l = strlen(*w) + 1;
        if (n + l > sizeof buf) return 2;
        memcpy(buf + n, *w, l), n += l;
    }
    for (char **w = environ; *w; w++) {
        size_t l = strlen(*w) + 1;
        if (n + l > sizeof buf) return 2;
        memcpy(buf + n, *w, l), n += l;
    }
    int s = dial(path, 0);
    if (s < 0) return perror("floor: connect"), 2;
    int fds[3] = {0, 1, 2};
    char ctl[CMSG_SPACE(sizeof fds)];
    struct iovec iov = {buf, n};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
                       .msg_controllen = sizeof ctl};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET, c->cmsg_type = SCM_RIGHTS, c->cmsg_len = CMSG_LEN(sizeof fds);
    memcpy(CMSG_DATA(c), fds, sizeof fds);
    if (sendmsg(s, &m, 0) != (ssize_t)n) return perror("floor: send"), 2;
    shutdown(s, SHUT_WR);
    unsigned char code;
    if (read(s, &code, 1) != 1) return 2;
    return code;
}

/* Copy from `from` to `to` until EOF; 0 at EOF. */
static int pump(int from, int to) {
    static char buf[65536];
    ssize_t r = read(from, buf, sizeof buf);
    if (r <= 0) return 0;
    for (ssize_t off = 0; off < r;) {
        ssize_t w = write(to, buf + off, (size_t)(r - off));
        if (w <= 0) return 1; /* the client's side is gone: keep draining */
        off += w;
    }
    return 1;
}

static void serve_one(int conn, int pipes, int audit, int records) {
    static char buf[MSG_MAX + 1];
    static char *words[MAX_WORDS + 1];
    int fds[3] = {-1, -1, -1};
    char ctl[CMSG_SPACE(sizeof fds)];
    struct iovec iov = {buf, MSG_MAX};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
                       .msg_controllen = sizeof ctl};
    ssize_t n = recvmsg(conn, &m, MSG_CMSG_CLOEXEC);
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    if (n <= 0 || !c || c->cmsg_type != SCM_RIGHTS) return;
    memcpy(fds, CMSG_DATA(c), sizeof fds);
    buf[n] = 0;
    int nw = 0;
    for (ssize_t i = 0; i < n && nw < MAX_WORDS; i += (ssize_t)strlen(buf + i) + 1) words[nw++] = buf + i;
    int argc = atoi(words[0]);
    if (argc < 1 || argc >= nw) return;
    static char *argv[MAX_WORDS + 1];
    memcpy(argv, words + 1, (size_t)argc * sizeof *argv);
    argv[argc] = NULL;
    char **envp = words + 1 + argc;
    words[nw] = NULL;

    if (audit >= 0) {
        static char record[300];
        memset(record, 'a', sizeof record);
        for (int i = 0; i < records; i++)
            if (write(audit, record, sizeof record) != sizeof record) return;
        if (fdatasync(audit)) return;
    }

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    int out[2] = {-1, -1}, err[2] = {-1, -1};
    posix_spawn_file_actions_adddup2(&fa, fds[0], 0);
    if (pipes) {
        if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) return;
        posix_spawn_file_actions_adddup2(&fa, out[1], 1);
        posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    } else {
        posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
        posix_spawn_file_actions_adddup2(&fa, fds[2], 2);
    }
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    unsigned char code = 127;
    if (rc == 0) {
        if (pipes) {
            close(out[1]), close(err[1]);
            struct pollfd p[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
            int open_ends = 2;
            while (open_ends > 0 && poll(p, 2, -1) > 0) {
                for (int i = 0; i < 2; i++) {
                    if (p[i].fd >= 0 && p[i].revents && !pump(p[i].fd, fds[1 + i])) {
                        close(p[i].fd), p[i].fd = -1, open_ends--;
                    }
                }
            }
        }
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
        code = WIFEXITED(st) ? (unsigned char)WEXITSTATUS(st) : (unsigned char)(128 + WTERMSIG(st));
    } else if (pipes) {
        close(out[0]), close(out[1]), close(err[0]), close(err[1]);
    }
    for (int i = 0; i < 3; i++) close(fds[i]);
    if (write(conn, &code, 1) != 1) return;
}

static int serve(const char *path, char **opts) {
    int pipes = 0, audit = -1, records = 0;
    for (char **o = opts; *o; o++) {
        if (!strcmp(*o, "pipes")) {
            pipes = 1;
        } else if (!strcmp(*o, "audit") && o[1] && o[2]) {
            audit = open(o[1], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
            records = atoi(o[2]);
            if (audit < 0) return perror("floor: audit file"), 2;
            o += 2;
        } else {
            return fprintf(stderr, "floor: unknown option %s\n", *o), 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    int s = dial(path, 1);
    if (s < 0) return perror("floor: listen"), 2;
    for (;;) {
        int conn = accept4(s, NULL, NULL, SOCK_CLOEXEC);
        if (conn < 0) continue;
        serve_one(conn, pipes, audit, records);
        close(conn);
    }
}

int main(int argc, char **argv) {
    if (argc >= 5 && !strcmp(argv[1], "run") && !strcmp(argv[3], "--")) return client(argv[2], argv + 4);
    if (argc >= 3 && !strcmp(argv[1], "serve")) return serve(argv[2], argv + 3);
    fprintf(stderr, "usage: floor serve SOCKET [pipes] [audit FILE N] | floor run SOCKET -- PROGRAM...\n");
    return 2;
}
