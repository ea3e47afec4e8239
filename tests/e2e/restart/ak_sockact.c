/*
 * ak_sockact.c - test stand-in for systemd socket activation (a .socket unit with Accept=no plus
 * `systemctl restart` of its service), so the restart tests need no systemd:
 *
 *   ak_sockact HOST PORT -- COMMAND [ARGS...]
 *
 * binds and listens on HOST:PORT once (backlog 1024) and keeps the socket for its whole life;
 * runs COMMAND with the socket as fd 3, LISTEN_FDS=1 and LISTEN_PID set to the child's pid (the
 * sd_listen_fds(3) protocol). SIGHUP = restart as systemd does it: SIGTERM to the child, wait for
 * it to exit, start a new one on the same socket. SIGTERM/SIGINT: stop the child, then exit.
 * Prints "started PID" / "exited PID STATUS" lines on stdout (flushed). Test-only.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t start_child(int lfd, char **argv)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (lfd != 3) {
        if (dup2(lfd, 3) < 0)
            _exit(127);
        close(lfd);
    }
    char v[32];
    snprintf(v, sizeof(v), "%ld", (long)getpid());
    setenv("LISTEN_PID", v, 1);
    setenv("LISTEN_FDS", "1", 1);
    execvp(argv[0], argv);
    _exit(127);
}

static int stop_child(pid_t pid)
{
    int st = 0;
    kill(pid, SIGTERM);
    while (waitpid(pid, &st, 0) < 0)
        ;
    printf("exited %ld %d\n", (long)pid, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    fflush(stdout);
    return st;
}

int main(int argc, char **argv)
{
    if (argc < 5 || strcmp(argv[3], "--") != 0) {
        fprintf(stderr, "usage: ak_sockact HOST PORT -- COMMAND [ARGS...]\n");
        return 2;
    }
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    char *end = NULL;
    long port = strtol(argv[2], &end, 10);
    if (end == argv[2] || *end != '\0' || port < 0 || port > 65535) {
        fprintf(stderr, "ak_sockact: bad port \"%s\"\n", argv[2]);
        return 2;
    }
    a.sin_port = htons((unsigned short)port);
    int one = 1, lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (lfd < 0 || inet_pton(AF_INET, argv[1], &a.sin_addr) != 1 ||
        setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(lfd, 1024) != 0) {
        perror("ak_sockact: listen");
        return 1;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);
    pid_t child = start_child(lfd, argv + 4);
    printf("started %ld\n", (long)child);
    fflush(stdout);
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            stop_child(child);
            child = start_child(lfd, argv + 4);
            printf("started %ld\n", (long)child);
            fflush(stdout);
        } else if (sig == SIGCHLD) {
            int st = 0;
            if (waitpid(child, &st, WNOHANG) == child) {
                printf("exited %ld %d\n", (long)child,
                       WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
                fflush(stdout);
                return 1; /* the service died on its own */
            }
        } else {
            stop_child(child);
            return 0;
        }
    }
}
