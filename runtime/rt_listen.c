/* rt_listen.c - systemd socket activation without libsystemd (see rt_listen.h). */
#include "rt_listen.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A decimal number of 1..10 digits without sign or spaces; 0 when malformed. */
static int parse_count(long *out, const char *s)
{
    long v = 0;
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        if (s[n] < '0' || s[n] > '9' || n >= 10)
            return 0;
        v = v * 10 + (s[n] - '0');
    }
    *out = v;
    return n > 0;
}

ak_err rt_listen_parse_env(int *n_fds, const char *listen_pid, const char *listen_fds,
                           long self_pid, char *err, size_t err_cap)
{
    long pid = 0, n = 0;
    *n_fds = 0;
    if (listen_pid == NULL || listen_fds == NULL)
        return AK_OK;
    if (!parse_count(&pid, listen_pid) || pid == 0) {
        snprintf(err, err_cap, "LISTEN_PID is not a process id");
        return AK_ERR_CONFIG;
    }
    if (pid != self_pid)
        return AK_OK; /* meant for another process (e.g. inherited through a wrapper) */
    if (!parse_count(&n, listen_fds) || n == 0 || n > 1024) {
        snprintf(err, err_cap, "LISTEN_FDS is not a count of sockets (1..1024)");
        return AK_ERR_CONFIG;
    }
    *n_fds = (int)n;
    return AK_OK;
}

ak_err rt_listen_inherited(int *fd, char *err, size_t err_cap)
{
    int n = 0, type = 0, listening = 0;
    socklen_t len = sizeof(type);
    struct sockaddr_storage ss;
    socklen_t slen = sizeof(ss);
    memset(&ss, 0, sizeof(ss));
    ak_err rc = rt_listen_parse_env(&n, getenv("LISTEN_PID"), getenv("LISTEN_FDS"), (long)getpid(),
                                    err, err_cap);
    *fd = -1;
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    if (rc != AK_OK || n == 0)
        return rc;
    if (n != 1) {
        snprintf(err, err_cap, "socket activation passed %d sockets; exactly one is supported", n);
        return AK_ERR_CONFIG;
    }
    if (getsockopt(RT_LISTEN_FDS_START, SOL_SOCKET, SO_TYPE, &type, &len) != 0 ||
        type != SOCK_STREAM) {
        snprintf(err, err_cap, "the socket-activated fd %d is not a stream socket",
                 RT_LISTEN_FDS_START);
        return AK_ERR_CONFIG;
    }
    len = sizeof(listening);
    if (getsockopt(RT_LISTEN_FDS_START, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 ||
        !listening) {
        snprintf(err, err_cap, "the socket-activated fd %d is not listening (Accept=no needed)",
                 RT_LISTEN_FDS_START);
        return AK_ERR_CONFIG;
    }
    if (getsockname(RT_LISTEN_FDS_START, (struct sockaddr *)&ss, &slen) != 0 ||
        (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)) {
        snprintf(err, err_cap, "the socket-activated fd %d is not a TCP socket",
                 RT_LISTEN_FDS_START);
        return AK_ERR_CONFIG;
    }
    int flags = fcntl(RT_LISTEN_FDS_START, F_GETFD);
    if (flags < 0 || fcntl(RT_LISTEN_FDS_START, F_SETFD, flags | FD_CLOEXEC) != 0) {
        snprintf(err, err_cap, "cannot mark the socket-activated fd close-on-exec");
        return AK_ERR_IO;
    }
    *fd = RT_LISTEN_FDS_START;
    return AK_OK;
}

unsigned rt_listen_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    memset(&ss, 0, sizeof(ss));
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}
