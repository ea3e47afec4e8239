/* cn_backend.c - building a table-described backend (see cn_backend.h). */
#include "cn_backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cn_remote_key.h"

/* The optional "name": 1..63 chars; the backend's configure supplies a default. */
static ak_err read_name(cn_signer *s, const cJSON *cfg, const char *where, char *err,
                        size_t err_cap)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(cfg, "name");
    if (name == NULL)
        return AK_OK;
    if (!cJSON_IsString(name) || name->valuestring[0] == '\0' ||
        strlen(name->valuestring) >= sizeof s->name) {
        cn_rcfg_err(err, err_cap, "%s.name: must be a string of 1..%zu chars", where,
                    sizeof s->name - 1);
        return AK_ERR_CONFIG;
    }
    snprintf(s->name, sizeof s->name, "%s", name->valuestring);
    return AK_OK;
}

/* After configure: the HTTP client, then the key (checked against "address"). */
static ak_err start(cn_signer *s, const cn_backend *b, cn_backend_start *st, char *err,
                    size_t err_cap)
{
    uint8_t want[20] = {0};
    int has_want = 0;
    cn_rhttp_opts ho;
    ak_err rc =
        cn_rcfg_address(want, &has_want, st->address ? st->address : "", b->where, err, err_cap);
    if (rc != AK_OK)
        return rc;
    if (st->client != NULL && st->http != NULL) {
        if ((rc = cn_rcfg_http_opts(&ho, st->http, b->where, err, err_cap)) != AK_OK)
            return rc;
        if ((rc = cn_rhttp_new_ext(st->client, &ho, st->more)) != AK_OK) {
            cn_rcfg_err(err, err_cap, "%s: cannot create the HTTP client", b->where);
            return rc;
        }
    }
    if (st->fetch != NULL)
        return cn_remote_key_start(s, st->fetch, (unsigned)st->cache_ttl_s, has_want, want,
                                   b->where, err, err_cap);
    return st->start != NULL ? st->start(s, has_want, want, err, err_cap) : AK_OK;
}

ak_err cn_backend_new(cn_signer **out, const cn_backend *b, const cJSON *cfg, char *err,
                      size_t err_cap)
{
    cn_backend_start st;
    cn_signer *s = NULL;
    ak_err rc = AK_ERR_ARG;
    if (out == NULL)
        return rc;
    *out = NULL;
    memset(&st, 0, sizeof st);
    if (!cJSON_IsObject(cfg)) {
        cn_rcfg_err(err, err_cap, "%s: signer config must be an object", b->where);
        return AK_ERR_CONFIG;
    }
    rc = AK_ERR_NOMEM;
    s = calloc(1, sizeof *s);
    if (s == NULL)
        goto out;
    s->impl = calloc(1, b->impl_size);
    if (s->impl == NULL)
        goto out;
    s->ops = b->ops;
    s->provider = b->provider;
    s->level = b->level;
    if ((rc = b->configure(s, &st, cfg, err, err_cap)) != AK_OK ||
        (rc = read_name(s, cfg, b->where, err, err_cap)) != AK_OK ||
        (rc = start(s, b, &st, err, err_cap)) != AK_OK)
        goto out;
    *out = s;
    s = NULL;
out:
    if (s != NULL && s->ops == NULL) /* failed before the ops could free it */
        free(s->impl);
    cn_signer_free(s);
    return rc;
}

ak_err cn_backend_health(cn_signer_health *out, ak_err rc, unsigned max_concurrency,
                         uint32_t latency_us, const char *where)
{
    memset(out, 0, sizeof *out);
    out->max_concurrency = max_concurrency;
    out->expected_latency_ms = (latency_us + 999) / 1000;
    out->can_sign = rc == AK_OK;
    if (rc != AK_OK)
        snprintf(out->detail, sizeof out->detail, "%s: %s", where, ak_strerror(rc));
    return AK_OK;
}
