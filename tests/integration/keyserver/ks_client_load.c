/*
 * ks_client_load.c - concurrency test client for anode-keyserver (test helper, not a product).
 *
 * Usage: ks_client_load URL CA CERT KEY KEY_ID PUBKEY_HEX THREADS PER_THREAD
 * Each thread reuses one libcurl easy handle (so one keep-alive connection) and POSTs
 * PER_THREAD /sign requests with random digests. Every signature is checked: strict DER,
 * low-s normalisation and recovery to PUBKEY (ak_sig_from_der), then secp256k1_ecdsa_verify
 * over the normalised signature. Exit 0 only if every request returned a signature that
 * verifies and each thread used exactly one connection.
 * PER_THREAD may be "until:FILE" (hot reload test): each thread signs until FILE exists, opening
 * a new connection every 16th request (so that both kept-alive and new connections see each
 * configuration generation); exit 0 only if every request verified and each thread made some.
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <secp256k1.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ak_b64.h"
#include "ak_hex.h"
#include "ak_sig.h"

typedef struct {
    const char *url, *ca, *cert, *key, *key_id;
    uint8_t pub[65];
    int n;
    const char *until; /* NULL: n requests; else until this file exists */
    int ok, bad;
    long connects;
} job;

typedef struct {
    char buf[4096];
    size_t len;
} sink;

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

static int check_one(job *j, const char *resp, const uint8_t digest[32])
{
    int ok = 0;
    uint8_t der[128];
    size_t der_len = 0;
    ak_sig sig;
    secp256k1_ecdsa_signature s;
    secp256k1_pubkey pk;
    uint8_t compact[64];
    cJSON *r = cJSON_Parse(resp);
    const cJSON *sv = cJSON_GetObjectItemCaseSensitive(r, "signature");
    if (!cJSON_IsString(sv) ||
        ak_b64_decode(der, sizeof der, &der_len, sv->valuestring, strlen(sv->valuestring)) !=
            AK_OK ||
        ak_sig_from_der(&sig, der, der_len, digest, j->pub) != AK_OK)
        goto out;
    memcpy(compact, sig.r, 32);
    memcpy(compact + 32, sig.s, 32);
    if (!secp256k1_ecdsa_signature_parse_compact(secp256k1_context_static, &s, compact) ||
        !secp256k1_ec_pubkey_parse(secp256k1_context_static, &pk, j->pub, 65) ||
        !secp256k1_ecdsa_verify(secp256k1_context_static, &s, digest, &pk))
        goto out;
    ok = 1;
out:
    cJSON_Delete(r);
    return ok;
}

static void *worker(void *arg)
{
    job *j = arg;
    CURL *c = curl_easy_init();
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    sink s;
    curl_easy_setopt(c, CURLOPT_URL, j->url);
    curl_easy_setopt(c, CURLOPT_CAINFO, j->ca);
    curl_easy_setopt(c, CURLOPT_SSLCERT, j->cert);
    curl_easy_setopt(c, CURLOPT_SSLKEY, j->key);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_MAXCONNECTS, 1L); /* a fresh connection closes the previous one */
    for (int i = 0; j->until != NULL ? access(j->until, F_OK) != 0 : i < j->n; i++) {
        if (j->until != NULL)
            curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, i % 16 == 15 ? 1L : 0L);
        uint8_t digest[32];
        char b64[64], body[512];
        long code = 0, nc = 0;
        if (RAND_bytes(digest, 32) != 1 || ak_b64_encode(b64, sizeof b64, digest, 32) != AK_OK)
            abort();
        snprintf(body, sizeof body,
                 "{\"key_id\":\"%s\",\"algorithm\":\"ECDSA_SHA256\",\"data\":\"%s\","
                 "\"request_id\":\"load-%d\"}",
                 j->key_id, b64, i);
        s.len = 0;
        s.buf[0] = '\0';
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        CURLcode rc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &nc);
        j->connects += nc;
        if (rc == CURLE_OK && code == 200 && check_one(j, s.buf, digest)) {
            j->ok++;
        } else {
            if (j->bad < 3)
                fprintf(stderr, "request %d: curl %d http %ld: %s\n", i, (int)rc, code, s.buf);
            j->bad++;
        }
    }
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    return NULL;
}

/* A decimal count 1..max, or 0. */
static int count_arg(const char *s, long max)
{
    char *end = NULL;
    long v = strtol(s, &end, 10);
    return end != s && *end == '\0' && v >= 1 && v <= max ? (int)v : 0;
}

int main(int argc, char **argv)
{
    if (argc != 9) {
        fprintf(stderr, "usage: %s URL CA CERT KEY KEY_ID PUBKEY_HEX THREADS PER_THREAD\n",
                argv[0]);
        return 2;
    }
    const char *until = strncmp(argv[8], "until:", 6) == 0 ? argv[8] + 6 : NULL;
    int threads = count_arg(argv[7], 256), per = until != NULL ? 1 : count_arg(argv[8], 1000000);
    uint8_t pub[65];
    if (threads < 1 || per < 1)
        return 2;
    if (ak_hex_decode_exact(pub, sizeof pub, argv[6], strlen(argv[6])) != AK_OK) {
        fprintf(stderr, "bad PUBKEY_HEX\n");
        return 2;
    }
    job *jobs = calloc((size_t)threads, sizeof *jobs);
    pthread_t *tid = calloc((size_t)threads, sizeof *tid);
    if (jobs == NULL || tid == NULL) {
        free(jobs);
        free(tid);
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    for (int i = 0; i < threads; i++) {
        jobs[i] = (job){argv[1], argv[2], argv[3], argv[4], argv[5], {0}, per, until, 0, 0, 0};
        memcpy(jobs[i].pub, pub, sizeof pub);
        pthread_create(&tid[i], NULL, worker, &jobs[i]);
    }
    int ok = 0, bad = 0, conn_bad = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(tid[i], NULL);
        ok += jobs[i].ok;
        bad += jobs[i].bad;
        conn_bad += until == NULL ? jobs[i].connects != 1 : jobs[i].ok == 0;
    }
    if (until != NULL) {
        printf("ks_client_load: %d threads until %s: %d verified, %d failed, %d threads made "
               "none\n",
               threads, until, ok, bad, conn_bad);
        curl_global_cleanup();
        free(jobs);
        free(tid);
        return bad == 0 && conn_bad == 0 && ok > 0 ? 0 : 1;
    }
    printf("ks_client_load: %d threads x %d: %d verified, %d failed, %d threads used more than "
           "one connection\n",
           threads, per, ok, bad, conn_bad);
    curl_global_cleanup();
    free(jobs);
    free(tid);
    return bad == 0 && conn_bad == 0 && ok == threads * per ? 0 : 1;
}
