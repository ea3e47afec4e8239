/*
 * test_cn_rhttp.c - the connector's one HTTP client (cn_rhttp) and the node client on it
 * (cn_downstream), against a real anvil and loopback sockets.
 *
 * Usage: test_cn_rhttp ANVIL_BINARY. The test starts anvil (--accounts 0) on a free loopback port
 * and stops it by PID.
 *
 * Covers: the node is reached although http_proxy/https_proxy/all_proxy point at a dead port
 * (a plain libcurl handle, the control, fails through that proxy: the environment is in force);
 * retries: a server that closes every connection is tried 1 + retries times, and a call with
 * more retries than its deadline allows ends within timeout_ms + 100 ms; 503 is retried then
 * AK_ERR_UNAVAILABLE, while cn_rhttp_accept_any hands it over at once; failover from a dead URL
 * to anvil marks the dead one down for CN_RHTTP_COOLDOWN_MS of the injected clock; bounds: a
 * node answer over max_response is AK_ERR_LIMIT, an answer over a wrapped buffer AK_ERR_UPSTREAM;
 * options refused (a certificate without its key, a secret header line with a line break);
 * header lines chained (cn_rhttp_header_add), too much text or one line too many refused and
 * the list freed.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "ak_test.h"
#include "ak_test_net.h"
#include "cn_downstream.h"
#include "cn_rhttp.h"

extern char **environ;

static char node_url[64];

static pid_t start_anvil(const char *bin, int port)
{
    char p[16];
    pid_t pid = 0;
    snprintf(p, sizeof p, "%d", port);
    char *argv[] = {(char *)bin, "--accounts", "0", "--host", "127.0.0.1", "--port", p, NULL};
    if (posix_spawn(&pid, bin, NULL, NULL, argv, environ) != 0) {
        perror("anvil");
        exit(2);
    }
    return pid;
}

/* eth_chainId through a cn_downstream; AK_OK and "0x7a69" (anvil's 31337) when reached. */
static ak_err node_chain_id(cn_downstream *d, char *msg, size_t cap)
{
    cn_transport t = cn_downstream_transport(d);
    cn_ds_reply r;
    ak_err rc = cn_ds_call(&t, &r, "eth_chainId", NULL);
    snprintf(msg, cap, "%s", r.msg);
    if (rc == AK_OK && !(cJSON_IsString(r.result) && strcmp(r.result->valuestring, "0x7a69") == 0))
        rc = AK_ERR_UPSTREAM;
    cn_ds_reply_free(&r);
    return rc;
}

static size_t discard(char *p, size_t s, size_t n, void *u)
{
    (void)p;
    (void)u;
    return s * n;
}

/* A libcurl handle left to the environment's proxy settings, as cn_downstream used to be. */
static CURLcode plain_post(void)
{
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, node_url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS,
                     "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_chainId\"}");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 3000L);
    CURLcode cc = curl_easy_perform(c);
    curl_easy_cleanup(c);
    return cc;
}

static void test_proxy_env_ignored(void)
{
    char dead[64], msg[192];
    cn_downstream *d = NULL;
    snprintf(dead, sizeof dead, "http://127.0.0.1:%d", ak_test_free_port());
    CHECK_EQ_INT(cn_downstream_new(&d, node_url, 3000, 1 << 20), AK_OK);
    if (d == NULL)
        return;
    for (int i = 0; i < 100 && node_chain_id(d, msg, sizeof msg) != AK_OK; i++)
        usleep(100000); /* anvil starting */
    CHECK_EQ_INT(plain_post(), CURLE_OK);
    setenv("http_proxy", dead, 1);
    setenv("https_proxy", dead, 1);
    setenv("all_proxy", dead, 1);
    setenv("ALL_PROXY", dead, 1);
    unsetenv("no_proxy");
    unsetenv("NO_PROXY");
    CURLcode control = plain_post();
    ak_err rc = node_chain_id(d, msg, sizeof msg);
    printf("proxy %s in the environment: a plain libcurl handle gets \"%s\", the node client %s\n",
           dead, curl_easy_strerror(control), rc == AK_OK ? "reaches the node" : msg);
    CHECK(control == CURLE_COULDNT_CONNECT);
    CHECK_EQ_INT(rc, AK_OK);
    unsetenv("http_proxy");
    unsetenv("https_proxy");
    unsetenv("all_proxy");
    unsetenv("ALL_PROXY");
    cn_downstream_free(d);
}

/* A loopback server that closes each connection at once, or answers it 503. */
typedef struct {
    int fd, port, answer_503;
    atomic_int conns;
    pthread_t thr;
} closer;

static void *closer_main(void *p)
{
    closer *c = p;
    static const char resp[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                               "Connection: close\r\n\r\n";
    for (;;) {
        char buf[4096];
        int s = accept(c->fd, NULL, NULL);
        if (s < 0)
            return NULL;
        atomic_fetch_add(&c->conns, 1);
        if (c->answer_503 && recv(s, buf, sizeof buf, 0) > 0)
            (void)!send(s, resp, sizeof resp - 1, MSG_NOSIGNAL);
        close(s);
    }
}

static void closer_start(closer *c, int answer_503)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    memset(c, 0, sizeof *c);
    c->answer_503 = answer_503;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0 || bind(c->fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(c->fd, 64) != 0 ||
        getsockname(c->fd, (struct sockaddr *)&a, &len) != 0) {
        perror("closer");
        exit(2);
    }
    c->port = ntohs(a.sin_port);
    pthread_create(&c->thr, NULL, closer_main, c);
}

static void closer_stop(closer *c)
{
    shutdown(c->fd, SHUT_RDWR);
    pthread_join(c->thr, NULL);
    close(c->fd);
}

static cn_rhttp *client(long timeout_ms, int retries, const char *const *urls, size_t n,
                        const rt_clock *clk)
{
    cn_rhttp *h = NULL;
    cn_rhttp_opts o = {
        .timeout_ms = timeout_ms, .connect_timeout_ms = 1000, .retries = retries, .pool_size = 2};
    cn_rhttp_more m = {.allow_http = 1, .urls = urls, .n_urls = n, .clock = clk};
    CHECK_EQ_INT(cn_rhttp_new_ext(&h, &o, &m), AK_OK);
    return h;
}

static ak_err get(cn_rhttp *h, const char *base, const cn_rhttp_hooks *hk, cn_rhttp_resp *r)
{
    cn_rhttp_req q = {.method = "GET", .base = base, .path = "/"};
    return cn_rhttp_call_until(h, &q, hk, r, cn_rhttp_now_ms() + 5000, -1);
}

static void test_retries(void)
{
    char base[64];
    closer c;
    cn_rhttp_resp r;
    CHECK_EQ_INT(cn_rhttp_resp_init(&r), AK_OK);
    /* Every connection closed: 1 + 3 attempts, then the transport error. */
    closer_start(&c, 0);
    snprintf(base, sizeof base, "http://127.0.0.1:%d", c.port);
    cn_rhttp *h = client(5000, 3, NULL, 0, NULL);
    CHECK_EQ_INT(cn_rhttp_call(h, &(cn_rhttp_req){"GET", base, "/", NULL, 0, NULL, NULL}, &r),
                 AK_ERR_NETWORK);
    CHECK_EQ_INT(atomic_load(&c.conns), 4);
    cn_rhttp_free(h);
    /* More retries than the deadline allows: the backoff stops before timeout_ms. */
    atomic_store(&c.conns, 0);
    h = client(300, 10, NULL, 0, NULL);
    double t0 = ak_test_now_s();
    ak_err rc = cn_rhttp_call(h, &(cn_rhttp_req){"GET", base, "/", NULL, 0, NULL, NULL}, &r);
    double ms = (ak_test_now_s() - t0) * 1000;
    int n = atomic_load(&c.conns);
    printf("timeout_ms 300, retries 10: %s after %d attempts, %.0f ms\n", ak_errname(rc), n, ms);
    CHECK(rc == AK_ERR_NETWORK || rc == AK_ERR_TIMEOUT);
    CHECK(n >= 2 && n <= 10);
    CHECK(ms < 400); /* timeout_ms + 100 */
    cn_rhttp_free(h);
    closer_stop(&c);
    /* 503: retried, then AK_ERR_UNAVAILABLE; with accept_any, handed over at once. */
    closer_start(&c, 1);
    snprintf(base, sizeof base, "http://127.0.0.1:%d", c.port);
    h = client(5000, 2, NULL, 0, NULL);
    CHECK_EQ_INT(get(h, base, NULL, &r), AK_ERR_UNAVAILABLE);
    CHECK_EQ_INT(atomic_load(&c.conns), 3);
    cn_rhttp_hooks any = {.check = cn_rhttp_accept_any};
    CHECK_EQ_INT(get(h, base, &any, &r), AK_OK);
    CHECK_EQ_INT(r.status, 503);
    CHECK_EQ_INT(atomic_load(&c.conns), 4);
    cn_rhttp_free(h);
    closer_stop(&c);
    cn_rhttp_resp_clear(&r);
}

/* A clock the test moves by hand. */
static int64_t fake_ns = 1000000000;
static int64_t fake_now(void *ctx)
{
    (void)ctx;
    return fake_ns;
}

static void test_failover_marks(void)
{
    char dead[64];
    rt_clock clk = {fake_now, fake_now, NULL};
    cn_rhttp_resp r;
    snprintf(dead, sizeof dead, "http://127.0.0.1:%d", ak_test_free_port());
    const char *urls[2] = {dead, node_url};
    CHECK_EQ_INT(cn_rhttp_resp_init(&r), AK_OK);
    cn_rhttp *h = client(3000, 1, urls, 2, &clk);
    const char *post = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_chainId\",\"params\":[]}";
    cn_rhttp_req q = {"POST", NULL, "", post, strlen(post), NULL, NULL};
    cn_rhttp_hooks hk = {.headers = curl_slist_append(NULL, "Content-Type: application/json")};
    /* The deadline is on the injected clock, which stands still: only attempts end the call. */
    CHECK_EQ_INT(cn_rhttp_call_until(h, &q, &hk, &r, fake_ns / 1000000 + 3000, -1), AK_OK);
    curl_slist_free_all(hk.headers);
    CHECK_EQ_INT(r.status, 200);
    if (strstr(r.body, "0x7a69") == NULL)
        fprintf(stderr, "body: %s\n", r.body);
    CHECK(strstr(r.body, "0x7a69") != NULL);
    CHECK_EQ_INT(cn_rhttp_down_until(h, 0), fake_ns / 1000000 + CN_RHTTP_COOLDOWN_MS);
    CHECK_EQ_INT(cn_rhttp_down_until(h, 1), 0);
    cn_rhttp_mark(h, 0, 0);
    CHECK_EQ_INT(cn_rhttp_down_until(h, 0), 0);
    /* No failover set: a request without base is refused. */
    cn_rhttp *h2 = client(3000, 0, NULL, 0, NULL);
    int retry = 0;
    CHECK_EQ_INT(cn_rhttp_once(h2, &q, NULL, 0, 1000, &r, &retry), AK_ERR_ARG);
    cn_rhttp_free(h2);
    cn_rhttp_free(h);
    cn_rhttp_resp_clear(&r);
}

static void test_bounds(void)
{
    char msg[192], small[8];
    cn_downstream *d = NULL;
    cn_rhttp *h = NULL;
    cn_rhttp_resp r;
    CHECK_EQ_INT(cn_downstream_new(&d, node_url, 3000, 16), AK_OK);
    if (d != NULL) {
        CHECK_EQ_INT(node_chain_id(d, msg, sizeof msg), AK_ERR_LIMIT);
        CHECK(strstr(msg, "exceeds 16 bytes") != NULL);
        cn_downstream_free(d);
    }
    h = client(3000, 2, NULL, 0, NULL);
    cn_rhttp_resp_wrap(&r, small, sizeof small);
    const char *post = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_chainId\",\"params\":[]}";
    cn_rhttp_req q = {"POST", node_url, "", post, strlen(post), NULL, NULL};
    CHECK_EQ_INT(cn_rhttp_call(h, &q, &r), AK_ERR_UPSTREAM);
    CHECK(r.overflow && r.len <= sizeof small);
    cn_rhttp_resp_clear(&r); /* a wrapped buffer is left alone */
    cn_rhttp_free(h);
    /* Options the client refuses. */
    cn_rhttp_opts o = {.timeout_ms = 1000, .connect_timeout_ms = 1000, .pool_size = 1};
    cn_rhttp_more half = {.cert = "/etc/hostname"};
    cn_rhttp_more crlf = {
        .secret_prefix = "Authorization: Bearer ", .secret = "a\r\nX: y", .secret_len = 7};
    h = (cn_rhttp *)&o;
    CHECK_EQ_INT(cn_rhttp_new_ext(&h, &o, &half), AK_ERR_ARG);
    CHECK(h == NULL);
    CHECK_EQ_INT(cn_rhttp_new_ext(&h, &o, &crlf), AK_ERR_ARG);
    CHECK(h == NULL);
    /* Header lines: they chain; text over CN_RHTTP_HDR_TEXT, or a line over CN_RHTTP_HDR_LINES,
     * frees the list, and later calls do nothing and hand the error on. */
    struct curl_slist *l = NULL;
    char *big = calloc(1, CN_RHTTP_HDR_TEXT + 1);
    ak_err rc = cn_rhttp_header_add(&l, AK_OK, "X-A: %d", 1);
    rc = cn_rhttp_header_add(&l, rc, "X-B: %s", "two");
    CHECK(rc == AK_OK && l != NULL && l->next != NULL && strcmp(l->next->data, "X-B: two") == 0 &&
          strcmp(l->data, "X-A: 1") == 0 && l->next->next == NULL);
    if (big != NULL)
        memset(big, 'v', CN_RHTTP_HDR_TEXT - 16);
    rc = cn_rhttp_header_add(&l, rc, "X-C: %s", big ? big : "");
    CHECK_EQ_INT(rc, big ? AK_ERR_LIMIT : AK_OK);
    CHECK_EQ_INT(cn_rhttp_header_add(&l, rc, "X-D: 4"), rc);
    CHECK(big == NULL || l == NULL);
    cn_rhttp_headers_free(l);
    l = NULL;
    rc = AK_OK;
    for (int i = 0; i < CN_RHTTP_HDR_LINES; i++)
        rc = cn_rhttp_header_add(&l, rc, "X-%d: x", i);
    CHECK(rc == AK_OK && l != NULL);
    CHECK_EQ_INT(cn_rhttp_header_add(&l, rc, "X-Z: one too many"), AK_ERR_LIMIT);
    CHECK(l == NULL);
    free(big);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s ANVIL\n", argv[0]);
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int port = ak_test_free_port();
    snprintf(node_url, sizeof node_url, "http://127.0.0.1:%d", port);
    pid_t anvil = start_anvil(argv[1], port);
    test_proxy_env_ignored();
    test_retries();
    test_failover_marks();
    test_bounds();
    kill(anvil, SIGTERM);
    waitpid(anvil, NULL, 0);
    curl_global_cleanup();
    return ak_test_report("test_cn_rhttp");
}
