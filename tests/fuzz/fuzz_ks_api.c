/*
 * fuzz_ks_api.c - the key server's request handling (ks_api_handle) on hostile requests.
 *
 * Input layout: byte 0 picks the method, byte 1 the path, byte 2 the client identity and
 * whether a ?key_id= query is present; then the query value up to the first '\n' (when
 * present) and the body (the rest, in a buffer of exactly its size, no NUL after it).
 *
 * The context has a hand-built configuration with three keys and two known identities (one by
 * CN, one by fingerprint), neither of which may use any key, plus an unknown identity. So every
 * body goes through the JSON checks (NUL, duplicates, depth) and the validation of single and
 * batch /sign, /pubkey and /health, and every /sign is refused and audited, without the HSM:
 * the token is NULL (p11_token_health(NULL) is an error -> /health answers 503) and no key
 * handle is ever touched. Audit records go to a temporary file, truncated now and then.
 * Checked: a reply always has a known status and a JSON body (except /metrics), never a
 * signature, and a body with a NUL byte or \u0000 never gets past 400.
 */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ak_json.h"
#include "ks_api.h"

#define FUZZ_ASSERT(c)                                                                             \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

#define REOPEN_EVERY 20000

static ks_config fz_cfg;
static ks_key_cfg fz_keys[3];
static ks_client_cfg fz_clients[2];
static p11_key *fz_handles[3]; /* never dereferenced: no identity may use a key */
static ks_ctx fz_ctx;
static char fz_audit_path[64];
static unsigned long fz_runs;

static void fz_open_audit(void)
{
    char msg[KS_MSG_MAX];
    FILE *f = fopen(fz_audit_path, "w"); /* start an empty chain */
    if (f == NULL)
        abort();
    fclose(f);
    if (ks_audit_open(&fz_ctx.audit, fz_audit_path, 1000, msg, sizeof msg) != AK_OK)
        abort();
}

static void fz_cleanup(void)
{
    unlink(fz_audit_path);
}

static void fz_init(void)
{
    static const char *const ids[] = {"k1", "key-two", "a.b_c-3"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(fz_keys[i].key_id, sizeof fz_keys[i].key_id, "%s", ids[i]);
        fz_keys[i].uri = NULL;
    }
    snprintf(fz_clients[0].cn, sizeof fz_clients[0].cn, "fuzz");
    fz_clients[1].by_fingerprint = 1;
    memset(fz_clients[1].fp, 0xab, sizeof fz_clients[1].fp);
    fz_cfg.keys = fz_keys;
    fz_cfg.n_keys = 3;
    fz_cfg.clients = fz_clients;
    fz_cfg.n_clients = 2;
    fz_cfg.max_body = 64 * 1024;
    fz_cfg.max_batch = 8;
    fz_cfg.max_json_depth = 8;
    fz_ctx.cfg = &fz_cfg;
    fz_ctx.tok = NULL;
    fz_ctx.keys = fz_handles;
    snprintf(fz_audit_path, sizeof fz_audit_path, "/tmp/fuzz_ks_api.%ld.log", (long)getpid());
    fz_open_audit();
    atexit(fz_cleanup);
}

/* 1 if any object in the tree has a member called name (depth-bounded like the parser). */
static int has_member(const cJSON *node, const char *name, unsigned depth)
{
    if (depth > 64)
        return 0;
    for (const cJSON *c = node->child; c != NULL; c = c->next) {
        if (cJSON_IsObject(node) && c->string != NULL && strcmp(c->string, name) == 0)
            return 1;
        if (has_member(c, name, depth + 1))
            return 1;
    }
    return 0;
}

static int status_known(unsigned s)
{
    return s == 200 || s == 400 || s == 403 || s == 404 || s == 405 || s == 413 || s == 500 ||
           s == 503;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const methods[] = {"GET", "POST", "PUT", "DELETE", "post"};
    static const char *const paths[] = {"/sign", "/pubkey", "/health", "/metrics", "/", "/sign/"};
    ks_tls_conn id;
    ks_reply out;
    char *query = NULL, *body = NULL;
    if (fz_ctx.cfg == NULL)
        fz_init();
    if (size < 3 || size > 64 * 1024)
        return 0;
    if (++fz_runs % REOPEN_EVERY == 0) {
        ks_audit_close(fz_ctx.audit);
        fz_open_audit();
    }
    const char *method = methods[data[0] % 5];
    const char *path = paths[data[1] % 6];
    memset(&id, 0, sizeof id);
    id.checked = id.ok = 1;
    id.cn_client = (data[2] & 1) ? 0 : -1;
    id.fp_client = (data[2] & 2) ? 1 : -1;
    snprintf(id.cn, sizeof id.cn, "%s", id.cn_client == 0 ? "fuzz" : "stranger");
    memset(id.fp, id.fp_client == 1 ? 0xab : 0xcd, sizeof id.fp);
    const uint8_t *p = data + 3;
    size_t n = size - 3;
    if (data[2] & 4) {
        const uint8_t *nl = memchr(p, '\n', n);
        size_t ql = nl != NULL ? (size_t)(nl - p) : n;
        query = malloc(ql + 1);
        if (query == NULL)
            return 0;
        memcpy(query, p, ql);
        query[ql] = '\0'; /* libmicrohttpd hands over query values as C strings */
        p += nl != NULL ? ql + 1 : ql;
        n -= nl != NULL ? ql + 1 : ql;
    }
    body = malloc(n ? n : 1);
    if (body == NULL) {
        free(query);
        return 0;
    }
    memcpy(body, p, n);

    ks_api_handle(&fz_ctx, &id, method, path, query, body, n, &out);

    FUZZ_ASSERT(status_known(out.status));
    if (out.body != NULL) {
        FUZZ_ASSERT(out.len == strlen(out.body));
        if (out.ep != KS_EP_METRICS || out.status != 200) {
            cJSON *j = cJSON_ParseWithLength(out.body, out.len);
            FUZZ_ASSERT(j != NULL && cJSON_IsObject(j));
            /* No identity may use a key: nothing is ever signed. (A request id echoed back may
             * contain the text "signature"; only a member of that name would be a signature.) */
            FUZZ_ASSERT(!has_member(j, "signature", 0));
            cJSON_Delete(j);
        }
    }
    if (out.status == 405)
        FUZZ_ASSERT(out.allow != NULL);
    if (strcmp(method, "POST") == 0 && out.ep != KS_EP_OTHER && out.ep != KS_EP_METRICS &&
        ak_json_has_nul(body, n))
        FUZZ_ASSERT(out.status == 400);
    free(out.body);
    free(body);
    free(query);
    return 0;
}
