/*
 * ks_hol_client.c - head-of-line test client for anode-keyserver (issue 12; a test helper, not a
 * product): while some requests wait on a hung HSM call, do the other clients' requests still
 * answer promptly?
 *
 * Usage: ks_hol_client URL CA CERT KEY HUNG_KEY OTHER_KEY OTHER_PUBHEX N_HUNG N_OTHER BOUND_MS
 *                      HUNG_BOUND_MS
 * Opens N_HUNG + N_OTHER keep-alive connections (one libcurl easy handle per thread, each
 * connected and checked with GET /health first), and all of them sign once with OTHER_KEY at the
 * same time (so the server's HSM sessions are open before anything hangs). Then N_HUNG threads POST
 * /sign for HUNG_KEY (whose signing calls the test's PKCS#11 module makes hang); once the server
 * shows N_HUNG sessions in use (GET /health on one more connection), each of the N_OTHER threads
 * sends GET /health and then POST /sign for OTHER_KEY on its own, already open connection. Checks:
 *   - every one of those answers 200 within BOUND_MS, on the same connection (no reconnect), and
 *     every signature is strict DER, recovers to OTHER_PUBHEX and verifies (libsecp256k1);
 *   - each hung request ends with 503 "hsm_unavailable" within HUNG_BOUND_MS (the server's
 *     op_timeout_ms plus the margin the test allows).
 * Prints the slowest and median times. Exit 0 only if every check passed.
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ak_b64.h"
#include "ak_hex.h"
#include "ak_sig.h"

#define MAX_THREADS 256

typedef struct {
    char buf[8192];
    size_t len;
} sink;

typedef struct {
    const char *url, *ca, *cert, *key, *key_id;
    const uint8_t *pub; /* NULL for the hung requests */
    const char *warm_key;
    const uint8_t *warm_pub;
    CURL *c;
    pthread_barrier_t *go;
    int hung;
    /* results */
    int ok;
    long status;
    double health_ms, sign_ms;
    char why[160];
} client;

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
    sink *s = ud;
    size_t k = sz * n;
    if (k > sizeof s->buf - 1 - s->len)
        return 0;
    memcpy(s->buf + s->len, p, k);
    s->len += k;
    s->buf[s->len] = '\0';
    return k;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static CURL *open_handle(const client *cl)
{
    CURL *c = curl_easy_init();
    if (c == NULL)
        return NULL;
    curl_easy_setopt(c, CURLOPT_CAINFO, cl->ca);
    curl_easy_setopt(c, CURLOPT_SSLCERT, cl->cert);
    curl_easy_setopt(c, CURLOPT_SSLKEY, cl->key);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    return c;
}

/* One request on the client's handle; *ms its duration, *status the HTTP status, body in s. */
static int request(client *cl, const char *path, const char *body, sink *s, double *ms,
                   long *status)
{
    char url[512];
    struct curl_slist *hd = NULL;
    snprintf(url, sizeof url, "%s%s", cl->url, path);
    s->len = 0;
    s->buf[0] = '\0';
    curl_easy_setopt(cl->c, CURLOPT_URL, url);
    curl_easy_setopt(cl->c, CURLOPT_WRITEDATA, s);
    if (body != NULL) {
        hd = curl_slist_append(NULL, "Content-Type: application/json");
        curl_easy_setopt(cl->c, CURLOPT_HTTPHEADER, hd);
        curl_easy_setopt(cl->c, CURLOPT_POSTFIELDS, body);
    } else {
        curl_easy_setopt(cl->c, CURLOPT_HTTPHEADER, NULL);
        curl_easy_setopt(cl->c, CURLOPT_HTTPGET, 1L);
    }
    double t0 = now_ms();
    CURLcode rc = curl_easy_perform(cl->c);
    *ms = now_ms() - t0;
    curl_easy_setopt(cl->c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hd);
    *status = 0;
    curl_easy_getinfo(cl->c, CURLINFO_RESPONSE_CODE, status);
    return rc == CURLE_OK;
}

static int reused(client *cl)
{
    long n = -1;
    curl_easy_getinfo(cl->c, CURLINFO_NUM_CONNECTS, &n);
    return n == 0;
}

/* The signature in a 200 answer must be strict DER that recovers to pub and verifies. */
static int sig_ok(const char *resp, const uint8_t digest[32], const uint8_t pub[65])
{
    uint8_t der[128];
    size_t der_len = 0;
    ak_sig sig;
    int ok = 0;
    cJSON *r = cJSON_Parse(resp);
    const cJSON *sv = cJSON_GetObjectItemCaseSensitive(r, "signature");
    if (cJSON_IsString(sv) &&
        ak_b64_decode(der, sizeof der, &der_len, sv->valuestring, strlen(sv->valuestring)) ==
            AK_OK &&
        ak_sig_from_der(&sig, der, der_len, digest, pub) == AK_OK)
        ok = 1;
    cJSON_Delete(r);
    return ok;
}

static void *run_client(void *arg)
{
    client *cl = arg;
    sink s;
    double ms;
    long st;
    uint8_t digest[32];
    char b64[64], body[256];
    pthread_barrier_wait(cl->go);
    if (RAND_bytes(digest, sizeof digest) != 1 ||
        ak_b64_encode(b64, sizeof b64, digest, sizeof digest) != AK_OK)
        return NULL;
    snprintf(body, sizeof body, "{\"key_id\":\"%s\",\"data\":\"%s\"}", cl->key_id, b64);
    if (cl->hung) {
        if (!request(cl, "/sign", body, &s, &cl->sign_ms, &cl->status)) {
            snprintf(cl->why, sizeof cl->why, "hung /sign: transport error");
            return NULL;
        }
        cl->ok = cl->status == 503 && strstr(s.buf, "\"hsm_unavailable\"") != NULL;
        if (!cl->ok)
            snprintf(cl->why, sizeof cl->why, "hung /sign: status %ld body %.80s", cl->status,
                     s.buf);
        return NULL;
    }
    if (!request(cl, "/health", NULL, &s, &ms, &st) || st != 200 || !reused(cl)) {
        snprintf(cl->why, sizeof cl->why, "/health: status %ld, connection reused %d", st,
                 reused(cl));
        return NULL;
    }
    cl->health_ms = ms;
    if (!request(cl, "/sign", body, &s, &ms, &st) || st != 200 || !reused(cl)) {
        snprintf(cl->why, sizeof cl->why, "/sign: status %ld, connection reused %d, body %.80s", st,
                 reused(cl), s.buf);
        return NULL;
    }
    cl->sign_ms = ms;
    if (!sig_ok(s.buf, digest, cl->pub)) {
        snprintf(cl->why, sizeof cl->why, "/sign: the signature does not verify");
        return NULL;
    }
    cl->ok = 1;
    return NULL;
}

/* Warm-up: every connection signs once with OTHER_KEY at the same time, so that the server's
 * session pool has its sessions open and their worker threads started before anything hangs
 * (the test is about waiting, not about opening sessions). */
static void *warm_client(void *arg)
{
    client *cl = arg;
    sink s;
    double ms;
    long st = 0;
    uint8_t digest[32];
    char b64[64], body[256];
    pthread_barrier_wait(cl->go);
    if (RAND_bytes(digest, sizeof digest) != 1 ||
        ak_b64_encode(b64, sizeof b64, digest, sizeof digest) != AK_OK)
        return NULL;
    snprintf(body, sizeof body, "{\"key_id\":\"%s\",\"data\":\"%s\"}", cl->warm_key, b64);
    cl->ok = request(cl, "/sign", body, &s, &ms, &st) && st == 200 &&
             sig_ok(s.buf, digest, cl->warm_pub);
    return NULL;
}

/* GET /health on a connection of its own until sessions_in_use >= want (at most 10 s). */
static int wait_in_use(client *probe, int want)
{
    sink s;
    double ms;
    long st;
    for (int i = 0; i < 1000; i++) {
        if (request(probe, "/health", NULL, &s, &ms, &st) && st == 200) {
            cJSON *j = cJSON_Parse(s.buf);
            const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "sessions_in_use");
            int n = cJSON_IsNumber(u) ? u->valueint : -1;
            cJSON_Delete(j);
            if (n >= want)
                return 1;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void stats(const char *what, double *v, int n, double bound)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    printf("  %s: median %.1f ms, slowest %.1f ms (bound %.0f ms)\n", what, v[n / 2], v[n - 1],
           bound);
}

int main(int argc, char **argv)
{
    static client cl[MAX_THREADS];
    static pthread_t th[MAX_THREADS];
    static double hv[MAX_THREADS], sv[MAX_THREADS];
    static uint8_t pub[65];
    pthread_barrier_t go;
    client probe;
    int fails = 0;
    if (argc != 12) {
        fprintf(stderr, "usage: ks_hol_client URL CA CERT KEY HUNG_KEY OTHER_KEY OTHER_PUBHEX "
                        "N_HUNG N_OTHER BOUND_MS HUNG_BOUND_MS\n");
        return 2;
    }
    char *e1 = NULL, *e2 = NULL, *e3 = NULL, *e4 = NULL;
    long lh = strtol(argv[8], &e1, 10), lo = strtol(argv[9], &e2, 10);
    double bound = strtod(argv[10], &e3), hung_bound = strtod(argv[11], &e4);
    if (*e1 != '\0' || *e2 != '\0' || *e3 != '\0' || *e4 != '\0' || lh < 1 || lo < 1 ||
        lh + lo > MAX_THREADS ||
        ak_hex_decode_exact(pub, sizeof pub, argv[7], strlen(argv[7])) != AK_OK) {
        fprintf(stderr, "ks_hol_client: bad arguments\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    memset(&probe, 0, sizeof probe);
    probe = (client){.url = argv[1], .ca = argv[2], .cert = argv[3], .key = argv[4]};
    probe.c = open_handle(&probe);
    int n_hung = (int)lh, n_other = (int)lo, n = n_hung + n_other;
    /* every connection open and checked before anything hangs */
    for (int i = 0; i < n; i++) {
        sink s;
        double ms;
        long st = 0;
        cl[i] = (client){.url = argv[1], .ca = argv[2], .cert = argv[3], .key = argv[4]};
        cl[i].hung = i < n_hung;
        cl[i].key_id = cl[i].hung ? argv[5] : argv[6];
        cl[i].pub = cl[i].hung ? NULL : pub;
        cl[i].c = open_handle(&cl[i]);
        if (cl[i].c == NULL || !request(&cl[i], "/health", NULL, &s, &ms, &st) || st != 200) {
            fprintf(stderr, "ks_hol_client: connection %d: GET /health failed (%ld)\n", i, st);
            return 1;
        }
    }
    if (probe.c == NULL || pthread_barrier_init(&go, NULL, (unsigned)n) != 0)
        return 1;
    for (int i = 0; i < n; i++) {
        cl[i].go = &go;
        cl[i].warm_key = argv[6];
        cl[i].warm_pub = pub;
        pthread_create(&th[i], NULL, warm_client, &cl[i]);
    }
    for (int i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        if (!cl[i].ok) {
            fprintf(stderr, "ks_hol_client: connection %d: warm-up /sign failed\n", i);
            return 1;
        }
        cl[i].ok = 0;
    }
    pthread_barrier_destroy(&go);
    if (pthread_barrier_init(&go, NULL, (unsigned)n_hung + 1) != 0)
        return 1;
    for (int i = 0; i < n_hung; i++) {
        cl[i].go = &go;
        pthread_create(&th[i], NULL, run_client, &cl[i]);
    }
    double t_hung = now_ms();
    pthread_barrier_wait(&go);
    if (!wait_in_use(&probe, n_hung)) {
        fprintf(stderr, "ks_hol_client: the server never showed %d sessions in use\n", n_hung);
        fails++;
    }
    printf("ks_hol_client: %d requests hung on %s after %.0f ms; %d other connections:\n", n_hung,
           argv[5], now_ms() - t_hung, n_other);
    pthread_barrier_destroy(&go);
    if (pthread_barrier_init(&go, NULL, (unsigned)n_other) != 0)
        return 1;
    for (int i = n_hung; i < n; i++) {
        cl[i].go = &go;
        pthread_create(&th[i], NULL, run_client, &cl[i]);
    }
    for (int i = n_hung; i < n; i++)
        pthread_join(th[i], NULL);
    double others_done = now_ms() - t_hung;
    for (int i = 0; i < n_hung; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < n; i++) {
        client *c = &cl[i];
        double worst =
            c->hung ? c->sign_ms : (c->health_ms > c->sign_ms ? c->health_ms : c->sign_ms);
        if (!c->ok || worst > (c->hung ? hung_bound : bound)) {
            fprintf(stderr, "FAIL: connection %d (%s): %s (health %.1f ms, sign %.1f ms)\n", i,
                    c->hung ? "hung key" : "other key", c->ok ? "too slow" : c->why, c->health_ms,
                    c->sign_ms);
            fails++;
        }
        if (c->hung)
            sv[i] = c->sign_ms;
        else
            hv[i - n_hung] = c->health_ms;
        curl_easy_cleanup(c->c);
    }
    double first_hung = 1e12;
    for (int i = 0; i < n_hung; i++)
        first_hung = sv[i] < first_hung ? sv[i] : first_hung;
    printf("  the %d other clients were all answered %.0f ms after the hang began; the first hung "
           "request ended after %.0f ms\n",
           n_other, others_done, first_hung);
    if (others_done >= first_hung) {
        fprintf(stderr, "FAIL: the other clients were not all answered while the hung requests "
                        "were still waiting (the test proves nothing)\n");
        fails++;
    }
    stats("GET /health on other connections", hv, n_other, bound);
    for (int i = n_hung; i < n; i++)
        hv[i - n_hung] = cl[i].sign_ms;
    stats("POST /sign, other key, other connections", hv, n_other, bound);
    stats("POST /sign, hung key (503 at the deadline)", sv, n_hung, hung_bound);
    curl_easy_cleanup(probe.c);
    pthread_barrier_destroy(&go);
    curl_global_cleanup();
    return fails == 0 ? 0 : 1;
}
