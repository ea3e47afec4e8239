/* cn_rpc_batch.c - a JSON-RPC batch: members concurrently, forwarded ones in downstream batches
 * (see cn_rpc_batch.h). */
#include "cn_rpc_batch.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cn_audit.h"
#include "cn_log.h"
#include "cn_rpc_err.h"
#include "rt_pool.h"

/* Batch helper jobs queued at once in the pool (a batch queues < threads). */
#define CN_RPC_POOL_QUEUE 1024

struct cn_rpc_batch {
    unsigned threads;
    const cn_transport *ds;
    const rt_clock *clock;
    atomic_uint fwd_cut;        /* 0, or the smaller downstream batch size after a refusal */
    _Atomic int64_t fwd_cut_ms; /* ... since when (monotonic ms) */
    struct rt_pool *pool;       /* members' helpers: threads workers (run_workers) */
};

ak_err cn_rpc_batch_new(cn_rpc_batch **out, unsigned threads, const cn_transport *ds,
                        const rt_clock *clock)
{
    *out = NULL;
    cn_rpc_batch *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return AK_ERR_NOMEM;
    *b = (cn_rpc_batch){.threads = threads, .ds = ds, .clock = clock ? clock : rt_clock_system()};
    if (rt_pool_new(&b->pool, threads, CN_RPC_POOL_QUEUE) != AK_OK) {
        free(b);
        return AK_ERR_NOMEM;
    }
    *out = b;
    return AK_OK;
}

void cn_rpc_batch_free(cn_rpc_batch *b)
{
    if (b == NULL)
        return;
    rt_pool_free(b->pool);
    free(b);
}

/* Members forwarded together in one downstream batch request, at most (a node runs a batch's
 * calls one after another within one request timeout: small chunks, sent concurrently). */
#define CN_FWD_CHUNK 20
/* After a node refused a batch as too large, smaller chunks for this long. */
#define CN_FWD_CUT_MS (10 * 60 * 1000)

typedef enum { JOB_PROCESS, JOB_CHUNKS, JOB_SINGLES } job_kind;

typedef struct {
    cn_rpc_batch *b;
    cn_rpc_member_fn fn;
    void *ctx;
    const cJSON **members;
    const char **raw; /* exact text of each member, NULL if unknown */
    size_t *raw_len;
    cn_rpc_answer *answers;
    size_t n;
    job_kind kind;
    size_t count;       /* work items of this kind: members, or chunks */
    size_t *fwd;        /* JOB_CHUNKS: the deferred members, in order ... */
    size_t n_fwd, size; /* ... how many, and per chunk */
    _Atomic size_t next;
    _Atomic int nomem;
    const char *client; /* the request's client identity for the audit (cn_audit_client) */
} batch_job;

static ak_err forward_chunk(cn_rpc_batch *b, cn_rpc_answer *answers, const size_t *idx, size_t k);

static void batch_worker(void *arg)
{
    batch_job *j = arg;
    cn_audit_set_client(j->client);
    for (;;) {
        size_t i = atomic_fetch_add(&j->next, 1);
        if (i >= j->count)
            break;
        cn_rpc_answer *a = &j->answers[i];
        ak_err rc = AK_OK;
        if (j->kind == JOB_PROCESS) {
            rc = j->fn(j->ctx, a, j->members[i], j->raw[i], j->raw_len[i]);
        } else if (j->kind == JOB_CHUNKS) {
            size_t from = i * j->size, k = j->n_fwd - from < j->size ? j->n_fwd - from : j->size;
            if (k > 1)
                rc = forward_chunk(j->b, j->answers, j->fwd + from, k);
        } else if (a->deferred) {
            a->deferred = 0;
            rc = cn_rpc_msg_forward(j->b->ds, a, a->raw, a->raw_len, &a->id, a->notification);
        }
        if (rc != AK_OK)
            atomic_store(&j->nomem, 1);
    }
}

/*
 * Run j->count work items of j->kind on up to `threads` threads: this one, plus idle
 * workers of the persistent pool (rt_pool). Every helper takes items from the same
 * counter, so this thread finishes the work alone when the pool is busy (other batches, or a
 * frozen backend); rt_pool_wait runs here whatever no worker has taken.
 */
static void run_workers(batch_job *j, job_kind kind, size_t count)
{
    size_t want = count < j->b->threads ? count : j->b->threads;
    rt_pool_group g;
    rt_pool_group_init(&g, j->b->pool);
    j->kind = kind;
    j->count = count;
    atomic_store(&j->next, 0);
    for (size_t t = 1; t < want; t++)
        if (rt_pool_submit(&g, batch_worker, j) != AK_OK)
            break; /* queue full: fewer helpers */
    batch_worker(j);
    (void)rt_pool_wait(&g);
}

static int64_t mono_ms(const cn_rpc_batch *b)
{
    return rt_clock_mono_ms(b->clock);
}

/* Members per downstream batch now: CN_FWD_CHUNK, or less for a while after a refusal. */
static size_t chunk_size(cn_rpc_batch *b)
{
    unsigned cut = atomic_load(&b->fwd_cut);
    if (cut == 0 || mono_ms(b) - atomic_load(&b->fwd_cut_ms) > CN_FWD_CUT_MS)
        return CN_FWD_CHUNK;
    return cut;
}

/* The node refused a batch of k as a whole (nothing of it ran): smaller batches for a while
 * (1 = none); the caller forwards this chunk's members one by one. */
static void refused_chunk(cn_rpc_batch *b, size_t k, const char *why)
{
    unsigned want = k / 2 > 1 ? (unsigned)(k / 2) : 1;
    unsigned cut = atomic_load(&b->fwd_cut);
    atomic_store(&b->fwd_cut_ms, mono_ms(b));
    if (cut != 0 && cut <= want)
        return;
    atomic_store(&b->fwd_cut, want);
    char n[24], m[24];
    snprintf(n, sizeof(n), "%zu", k);
    snprintf(m, sizeof(m), "%u", want);
    cn_log(CN_LOG_WARN, "the downstream node refused a batch: smaller batches for 10 minutes",
           "members", n, "from_now_at_most", m, "reason", why, (char *)NULL);
}

/* Settle every member of the chunk that is still deferred with the same error answer. */
static ak_err fail_chunk(cn_rpc_answer *answers, const size_t *idx, size_t k, int code,
                         const char *msg)
{
    for (size_t q = 0; q < k; q++) {
        cn_rpc_answer *a = &answers[idx[q]];
        if (!a->deferred)
            continue;
        a->deferred = 0;
        if (!a->notification && cn_rpc_msg_error(a, &a->id, code, msg) != AK_OK)
            return AK_ERR_NOMEM;
    }
    return AK_OK;
}

/* Give each answered member its response from the node's batch answer (an array): matched by id,
 * each element's exact bytes. Members left without one get -32001 (the batch was delivered: a
 * request is never sent twice). */
static ak_err match_chunk(cn_rpc_answer *answers, const size_t *idx, size_t k, const cJSON *arr,
                          const char *resp, size_t resp_len)
{
    size_t m = (size_t)cJSON_GetArraySize(arr);
    const char **sp = m ? calloc(m, sizeof(*sp)) : NULL; /* NOLINT(bugprone-sizeof-expression) */
    size_t *sl = m ? calloc(m, sizeof(*sl)) : NULL;
    ak_err rc = AK_ERR_NOMEM;
    if (m > 0 && (sp == NULL || sl == NULL))
        goto out;
    if (m > 0 && !cn_rpc_msg_spans(resp, resp_len, sp, sl, m))
        m = 0; /* cannot cut it into elements: nothing matches */
    size_t e = 0;
    const cJSON *el;
    cJSON_ArrayForEach(el, arr)
    {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(el, "id");
        if (e >= m || id == NULL ||
            !(cJSON_HasObjectItem(el, "result") || cJSON_HasObjectItem(el, "error"))) {
            e++;
            continue;
        }
        for (size_t q = 0; q < k; q++) {
            cn_rpc_answer *a = &answers[idx[q]];
            if (a->deferred && !a->notification && cJSON_Compare(a->id.id, id, 1)) {
                a->text = malloc(sl[e] + 1);
                if (a->text == NULL)
                    goto out;
                memcpy(a->text, sp[e], sl[e]);
                a->text[sl[e]] = '\0';
                a->len = sl[e];
                a->deferred = 0;
                break;
            }
        }
        e++;
    }
    rc = fail_chunk(answers, idx, k, CN_E_DOWNSTREAM,
                    "the downstream node's batch answer has no response for this request");
out:
    free(sp);
    free(sl);
    return rc;
}

/* The node refused the whole batch, so none of it ran: one error object (JSON-RPC 2.0 section
 * 6: invalid request, method not found - no batch support -, parse error), or, as geth does for
 * a batch over its limit, an array of one -32600 error while more than one answer was due. */
static int batch_refused(const cJSON *resp, size_t answers_due)
{
    const cJSON *one = resp;
    if (cJSON_IsArray(resp)) {
        if (cJSON_GetArraySize(resp) != 1 || answers_due < 2)
            return 0;
        one = cJSON_GetArrayItem(resp, 0);
    }
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(one, "error");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(err, "code");
    if (!cJSON_IsNumber(code) || cJSON_HasObjectItem(one, "result"))
        return 0;
    double c = code->valuedouble;
    return c == CN_E_INVALID_REQUEST ||
           (!cJSON_IsArray(resp) && (c == CN_E_METHOD || c == CN_E_PARSE));
}

/*
 * Forward the chunk's members to the node as one JSON-RPC batch. Leaves them deferred (to be
 * forwarded one by one) when that cannot be done safely: an answered member without an id or
 * with the id of another (responses are matched by id), or a node that refused the batch as a
 * whole (see batch_refused; later batches are smaller for a while).
 */
static ak_err forward_chunk(cn_rpc_batch *b, cn_rpc_answer *answers, const size_t *idx, size_t k)
{
    size_t total = 2, due = 0;
    for (size_t q = 0; q < k; q++) {
        const cn_rpc_answer *a = &answers[idx[q]];
        total += a->raw_len + 1;
        if (a->notification)
            continue;
        due++;
        if (a->id.id == NULL || cJSON_IsNull(a->id.id))
            return AK_OK;
        for (size_t p = 0; p < q; p++)
            if (!answers[idx[p]].notification && cJSON_Compare(answers[idx[p]].id.id, a->id.id, 1))
                return AK_OK;
    }
    char *body = malloc(total + 1), *resp = NULL, err[192] = "";
    size_t used = 0, resp_len = 0;
    long status = 0;
    if (body == NULL)
        return AK_ERR_NOMEM;
    body[used++] = '[';
    for (size_t q = 0; q < k; q++) {
        if (q > 0)
            body[used++] = ',';
        memcpy(body + used, answers[idx[q]].raw, answers[idx[q]].raw_len);
        used += answers[idx[q]].raw_len;
    }
    body[used++] = ']';
    body[used] = '\0';
    ak_err rc = b->ds->post(b->ds->ctx, body, used, &status, &resp, &resp_len, err, sizeof(err));
    free(body);
    if (rc == AK_ERR_NOMEM)
        return rc;
    if (rc != AK_OK) {
        free(resp);
        return fail_chunk(answers, idx, k,
                          rc == AK_ERR_NETWORK || rc == AK_ERR_TIMEOUT ? CN_E_NETWORK
                                                                       : CN_E_DOWNSTREAM,
                          err[0] ? err : "downstream error");
    }
    cJSON *arr = resp_len > 0 ? cJSON_ParseWithLength(resp, resp_len) : NULL;
    if (batch_refused(arr, due)) {
        refused_chunk(b, k, "the node answered the batch with one error");
        rc = AK_OK; /* the members stay deferred: one by one */
    } else if (cJSON_IsArray(arr)) {
        rc = match_chunk(answers, idx, k, arr, resp, resp_len);
    } else {
        /* Nothing (only notifications are answered with nothing), or not an array: the
         * batch may have run, so it is not sent again. */
        rc = fail_chunk(answers, idx, k, CN_E_DOWNSTREAM,
                        arr == NULL ? "downstream answered a batch without a JSON-RPC response"
                                    : "downstream answered a batch with something other than "
                                      "an array");
    }
    cJSON_Delete(arr);
    free(resp);
    return rc;
}

/* The deferred members: in downstream batches (chunk_size() each, the chunks concurrently),
 * then one by one whatever could not go that way. */
static ak_err forward_deferred(batch_job *j)
{
    size_t left = 0;
    for (size_t i = 0; i < j->n; i++)
        left += j->answers[i].deferred ? 1 : 0;
    size_t size = chunk_size(j->b);
    if (left > 1 && size > 1) {
        j->fwd = calloc(left, sizeof(*j->fwd));
        if (j->fwd == NULL)
            return AK_ERR_NOMEM;
        for (size_t i = 0; i < j->n; i++)
            if (j->answers[i].deferred)
                j->fwd[j->n_fwd++] = i;
        j->size = size;
        run_workers(j, JOB_CHUNKS, (j->n_fwd + size - 1) / size);
        free(j->fwd);
        j->fwd = NULL;
        if (atomic_load(&j->nomem))
            return AK_ERR_NOMEM;
        left = 0;
        for (size_t i = 0; i < j->n; i++)
            left += j->answers[i].deferred ? 1 : 0;
    }
    if (left > 0)
        run_workers(j, JOB_SINGLES, j->n);
    return atomic_load(&j->nomem) ? AK_ERR_NOMEM : AK_OK;
}

ak_err cn_rpc_batch_run(cn_rpc_batch *b, cn_rpc_member_fn fn, void *ctx, const cJSON *arr,
                        const char *body, size_t len, char **out, size_t *out_len)
{
    ak_err rc = AK_ERR_NOMEM;
    size_t n = (size_t)cJSON_GetArraySize(arr), i = 0, total = 2;
    batch_job j = {.b = b, .fn = fn, .ctx = ctx, .n = n, .client = cn_audit_client()};
    /* An array of pointers: sizeof a pointer is what is meant. */
    j.members = calloc(n, sizeof(*j.members)); /* NOLINT(bugprone-sizeof-expression) */
    j.answers = calloc(n, sizeof(*j.answers));
    j.raw = calloc(n, sizeof(*j.raw));
    j.raw_len = calloc(n, sizeof(*j.raw_len));
    char *buf = NULL;
    if (j.members == NULL || j.answers == NULL || j.raw == NULL || j.raw_len == NULL)
        goto out;
    const cJSON *m;
    cJSON_ArrayForEach(m, arr) j.members[i++] = m;
    if (!cn_rpc_msg_spans(body, len, j.raw, j.raw_len, n))
        memset(j.raw, 0, n * sizeof(*j.raw));

    run_workers(&j, JOB_PROCESS, n);
    if (atomic_load(&j.nomem) || forward_deferred(&j) != AK_OK)
        goto out;

    size_t count = 0;
    for (i = 0; i < n; i++) {
        if (j.answers[i].text != NULL) {
            total += j.answers[i].len + 1;
            count++;
        }
    }
    rc = AK_OK;
    if (count == 0) {
        *out = NULL;
        *out_len = 0;
        goto out;
    }
    buf = malloc(total + 1);
    if (buf == NULL) {
        rc = AK_ERR_NOMEM;
        goto out;
    }
    size_t used = 0;
    buf[used++] = '[';
    for (i = 0; i < n; i++) {
        if (j.answers[i].text == NULL)
            continue;
        if (used > 1)
            buf[used++] = ',';
        memcpy(buf + used, j.answers[i].text, j.answers[i].len);
        used += j.answers[i].len;
    }
    buf[used++] = ']';
    buf[used] = '\0';
    *out = buf;
    *out_len = used;
out:
    for (i = 0; j.answers && i < n; i++) {
        free(j.answers[i].text);
        free(j.answers[i].raw_owned);
    }
    free(j.answers);
    free(j.members);
    free(j.raw);
    free(j.raw_len);
    return rc;
}
