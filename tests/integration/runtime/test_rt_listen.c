/* test_rt_listen.c - systemd socket activation (sd_listen_fds(3) protocol) without libsystemd:
 * the variables' parser, and a real listening socket handed over as fd 3. */
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ak_test.h"
#include "rt_listen.h"

static void test_parse(void)
{
    char err[128];
    int n = -1;
    CHECK(rt_listen_parse_env(&n, NULL, NULL, 42, err, sizeof(err)) == AK_OK && n == 0);
    CHECK(rt_listen_parse_env(&n, "42", NULL, 42, err, sizeof(err)) == AK_OK && n == 0);
    CHECK(rt_listen_parse_env(&n, "42", "1", 42, err, sizeof(err)) == AK_OK && n == 1);
    CHECK(rt_listen_parse_env(&n, "42", "3", 42, err, sizeof(err)) == AK_OK && n == 3);
    CHECK(rt_listen_parse_env(&n, "43", "1", 42, err, sizeof(err)) == AK_OK && n == 0);
    const char *bad_pid[] = {"", "0", "-42", "+42", " 42", "42 ", "4x", "12345678901"};
    for (size_t i = 0; i < sizeof(bad_pid) / sizeof(bad_pid[0]); i++) {
        err[0] = '\0';
        CHECK(rt_listen_parse_env(&n, bad_pid[i], "1", 42, err, sizeof(err)) == AK_ERR_CONFIG);
        CHECK(strstr(err, "LISTEN_PID") != NULL);
    }
    const char *bad_fds[] = {"", "0", "-1", "1x", "1025", "99999999999"};
    for (size_t i = 0; i < sizeof(bad_fds) / sizeof(bad_fds[0]); i++) {
        err[0] = '\0';
        CHECK(rt_listen_parse_env(&n, "42", bad_fds[i], 42, err, sizeof(err)) == AK_ERR_CONFIG);
        CHECK(strstr(err, "LISTEN_FDS") != NULL);
    }
}

static void set_env(const char *fds)
{
    char pid[24];
    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    setenv("LISTEN_PID", pid, 1);
    setenv("LISTEN_FDS", fds, 1);
}

/* Put socket s at fd 3 (where systemd puts the first one). */
static void move_to_3(int s)
{
    if (s == RT_LISTEN_FDS_START)
        return;
    CHECK(dup2(s, RT_LISTEN_FDS_START) == RT_LISTEN_FDS_START);
    close(s);
}

static void test_inherited(void)
{
    char err[160];
    int fd = 0;
    /* Not activated. */
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    CHECK(rt_listen_inherited(&fd, err, sizeof(err)) == AK_OK && fd == -1);

    /* A listening TCP socket at fd 3. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(s, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(s, 8) == 0);
    move_to_3(s);
    set_env("1");
    setenv("LISTEN_FDNAMES", "http", 1);
    CHECK(rt_listen_inherited(&fd, err, sizeof(err)) == AK_OK && fd == RT_LISTEN_FDS_START);
    CHECK(getenv("LISTEN_PID") == NULL && getenv("LISTEN_FDS") == NULL &&
          getenv("LISTEN_FDNAMES") == NULL);
    CHECK((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    CHECK(rt_listen_port(fd) != 0);
    /* Read once: a second call (or a child) does not take it again. */
    CHECK(rt_listen_inherited(&fd, err, sizeof(err)) == AK_OK && fd == -1);

    /* Two sockets: refused. */
    set_env("2");
    CHECK(rt_listen_inherited(&fd, err, sizeof(err)) == AK_ERR_CONFIG && fd == -1);
    CHECK(strstr(err, "exactly one") != NULL);

    /* fd 3 a socket that is not listening (Accept=yes would pass connections). */
    close(RT_LISTEN_FDS_START);
    s = socket(AF_INET, SOCK_STREAM, 0);
    move_to_3(s);
    set_env("1");
    CHECK(rt_listen_inherited(&fd, err, sizeof(err)) == AK_ERR_CONFIG && fd == -1);
    CHECK(strstr(err, "not listening") != NULL);

    /* fd 3 not a socket at all. */
    close(RT_LISTEN_FDS_START);
    int p[2];
    CHECK(pipe(p) == 0);
    if (p[0] != RT_LISTEN_FDS_START && p[1] != RT_LISTEN_FDS_START)
        CHECK(dup2(p[0], RT_LISTEN_FDS_START) == RT_LISTEN_FDS_START);
    set_env("1");
    CHECK(rt_listen_inherited(&fd, err, sizeof(err)) == AK_ERR_CONFIG && fd == -1);
    CHECK(strstr(err, "not a stream socket") != NULL);
    close(RT_LISTEN_FDS_START);
    close(p[1]);
    if (p[0] != RT_LISTEN_FDS_START)
        close(p[0]);

    /* UNIX stream listening socket: not TCP. */
    s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un {
        sa_family_t sun_family;
        char sun_path[108];
    } u;
    memset(&u, 0, sizeof(u));
    u.sun_family = AF_UNIX;
    snprintf(u.sun_path + 1, sizeof(u.sun_path) - 1, "ak-rt-listen-%ld", (long)getpid());
    CHECK(bind(s, (struct sockaddr *)&u, sizeof(u)) == 0 && listen(s, 1) == 0);
    move_to_3(s);
    set_env("1");
    CHECK(rt_listen_inherited(&fd, err, sizeof(err)) == AK_ERR_CONFIG && fd == -1);
    CHECK(strstr(err, "not a TCP socket") != NULL);
    close(RT_LISTEN_FDS_START);
}

int main(void)
{
    test_parse();
    test_inherited();
    return ak_test_report("test_rt_listen");
}
