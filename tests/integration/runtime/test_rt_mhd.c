/* test_rt_mhd.c - rt_mhd on loopback: a request served through the glue (keep-alive, the hooks,
 * the extra header), the port-clash and bad-address refusals naming the address, a drain that
 * answers with "Connection: close" and stops accepting. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ak_test.h"
#include "rt_mhd.h"

typedef struct {
    rt_mhd *m;
    atomic_int opened, closed, done;
} srv;

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **req_cls)
{
    srv *s = cls;
    static int first;
    (void)url, (void)method, (void)version, (void)upload, (void)upload_size;
    if (*req_cls == NULL) { /* first call: answer on the second (keep-alive) */
        *req_cls = &first;
        return rt_conns_begin(rt_mhd_conns(s->m), c) ? MHD_YES : MHD_NO;
    }
    char *body = strdup("{\"ok\":true}");
    return rt_mhd_reply(s->m, c, 200, NULL, body, NULL, strlen(body), "X-Test", "1");
}

static void on_open(void *cls, struct MHD_Connection *c, void **sc)
{
    (void)c, (void)sc;
    atomic_fetch_add(&((srv *)cls)->opened, 1);
}

static void on_close(void *cls, struct MHD_Connection *c, void **sc)
{
    (void)c, (void)sc;
    atomic_fetch_add(&((srv *)cls)->closed, 1);
}

static void on_done(void *cls, struct MHD_Connection *c, void **req_cls)
{
    (void)c;
    *req_cls = NULL;
    atomic_fetch_add(&((srv *)cls)->done, 1);
}

static int connect_to(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* One GET on fd; the answer's head and body in buf (NUL-terminated). */
static size_t get(int fd, char *buf, size_t cap)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    size_t n = 0;
    CHECK(write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1));
    while (n + 1 < cap && strstr(buf, "{\"ok\":true}") == NULL) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        buf[n] = '\0';
    }
    return n;
}

static rt_mhd_config config(srv *s, unsigned port)
{
    return (rt_mhd_config){.host = "127.0.0.1",
                           .host_name = "test.host",
                           .port = port,
                           .listen_fd = -1,
                           .stack_size = 256 * 1024,
                           .max_connections = 8,
                           .idle_timeout_s = 10,
                           .conn_memory = 32 * 1024,
                           .handler = handler,
                           .cls = s,
                           .on_open = on_open,
                           .on_close = on_close,
                           .on_done = on_done};
}

int main(void)
{
    srv s = {0}, s2 = {0};
    char err[256] = "", buf[2048] = "", want[128];
    rt_mhd_config cfg = config(&s, 0);
    CHECK_EQ_INT(rt_mhd_start(&s.m, &cfg, err, sizeof err), AK_OK);
    unsigned port = rt_mhd_port(s.m);
    CHECK(port > 0);

    /* served, twice on one keep-alive connection, with the extra header */
    int fd = connect_to(port);
    CHECK(fd >= 0);
    get(fd, buf, sizeof buf);
    CHECK(strncmp(buf, "HTTP/1.1 200", 12) == 0);
    CHECK(strstr(buf, "X-Test: 1") != NULL);
    CHECK(strstr(buf, "Content-Type: application/json") != NULL);
    CHECK(strstr(buf, "Connection: close") == NULL);
    memset(buf, 0, sizeof buf);
    get(fd, buf, sizeof buf);
    CHECK(strncmp(buf, "HTTP/1.1 200", 12) == 0);
    CHECK_EQ_INT(atomic_load(&s.opened), 1);
    CHECK(rt_mhd_connections(s.m) == 1);

    /* the same port again: refused once, naming the address, the port and errno */
    rt_mhd_config clash = config(&s2, port);
    CHECK_EQ_INT(rt_mhd_start(&s2.m, &clash, err, sizeof err), AK_ERR_NETWORK);
    CHECK(s2.m == NULL);
    snprintf(want, sizeof want, "cannot listen on 127.0.0.1 port %u: Address already in use", port);
    CHECK(strstr(err, want) != NULL);
    /* not an address; a port out of range; half a TLS pair */
    clash.host = "localhost";
    CHECK_EQ_INT(rt_mhd_start(&s2.m, &clash, err, sizeof err), AK_ERR_CONFIG);
    CHECK(strstr(err, "test.host: not a numeric IPv4 or IPv6 address") != NULL);
    clash.host = "127.0.0.1";
    clash.port = 70000;
    CHECK_EQ_INT(rt_mhd_start(&s2.m, &clash, err, sizeof err), AK_ERR_CONFIG);
    clash.port = 0;
    clash.tls_cert_pem = "-----BEGIN CERTIFICATE-----";
    CHECK_EQ_INT(rt_mhd_start(&s2.m, &clash, err, sizeof err), AK_ERR_CONFIG);
    CHECK(s2.m == NULL);

    /* drain: the idle connection is closed, newcomers are refused, nothing is left in flight */
    CHECK(rt_mhd_drain(s.m, 3000, 100) == 0);
    CHECK(read(fd, buf, 1) == 0);
    close(fd);
    CHECK(connect_to(port) < 0);
    CHECK(atomic_load(&s.done) >= 2);
    rt_mhd_stop(s.m);
    CHECK_EQ_INT(atomic_load(&s.closed), 1);
    rt_mhd_stop(NULL);
    return ak_test_report("test_rt_mhd");
}
