/* cn_rpc_msg.c - a JSON-RPC call's id, answer and forwarding (see cn_rpc_msg.h). */
#include "cn_rpc_msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cn_metrics.h"
#include "cn_rpc_err.h"

ak_err cn_rpc_msg_finish(cn_rpc_answer *ans, cJSON *resp)
{
    ans->text = cJSON_PrintUnformatted(resp);
    cJSON_Delete(resp);
    if (ans->text == NULL)
        return AK_ERR_NOMEM;
    ans->len = strlen(ans->text);
    return AK_OK;
}

/* Raw JSON text scanning (cn_rpc_msg.h). */
static size_t skip_ws(const char *s, size_t i, size_t n)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

static size_t skip_string(const char *s, size_t i, size_t n)
{
    for (i++; i < n && s[i] != '"'; i++)
        if (s[i] == '\\')
            i++;
    return i < n ? i + 1 : n;
}

/* End of the value starting at s[i] (after whitespace). */
static size_t skip_value(const char *s, size_t i, size_t n)
{
    size_t depth = 0;
    i = skip_ws(s, i, n);
    if (i < n && s[i] == '"')
        return skip_string(s, i, n);
    if (i < n && s[i] != '{' && s[i] != '[') {
        while (i < n && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' && s[i] != '\t' &&
               s[i] != '\n' && s[i] != '\r')
            i++;
        return i;
    }
    while (i < n) {
        if (s[i] == '"') {
            i = skip_string(s, i, n);
            continue;
        }
        if (s[i] == '{' || s[i] == '[')
            depth++;
        else if ((s[i] == '}' || s[i] == ']') && --depth == 0)
            return i + 1;
        i++;
    }
    return n;
}

/* The text of the first member named exactly "id" of the object s[0..n), or NULL. */
static const char *object_id_text(const char *s, size_t n, size_t *len)
{
    size_t i = skip_ws(s, 0, n);
    if (i >= n || s[i] != '{')
        return NULL;
    for (i++;;) {
        i = skip_ws(s, i, n);
        if (i >= n || s[i] != '"')
            return NULL;
        size_t k = i;
        i = skip_string(s, i, n);
        int is_id = i - k == 4 && memcmp(s + k, "\"id\"", 4) == 0;
        i = skip_ws(s, i, n);
        if (i >= n || s[i] != ':')
            return NULL;
        size_t v = skip_ws(s, i + 1, n);
        i = skip_value(s, v, n);
        if (is_id) {
            *len = i - v;
            return s + v;
        }
        i = skip_ws(s, i, n);
        if (i >= n || s[i] != ',')
            return NULL;
        i++;
    }
}

cn_rpc_id cn_rpc_msg_id(const cJSON *id, const char *raw, size_t raw_len)
{
    cn_rpc_id r = {id, NULL, 0};
    size_t len = 0;
    const char *t = cJSON_IsNumber(id) && raw ? object_id_text(raw, raw_len, &len) : NULL;
    if (t != NULL && len > 0 && len < 128) {
        cJSON *check = cJSON_ParseWithLength(t, len);
        if (check != NULL && cJSON_Compare(check, id, 1)) {
            r.raw = t;
            r.len = len;
        }
        cJSON_Delete(check);
    }
    return r;
}

int cn_rpc_msg_spans(const char *s, size_t n, const char **p, size_t *len, size_t count)
{
    size_t i = skip_ws(s, 0, n), k = 0;
    if (i >= n || s[i] != '[')
        return 0;
    for (i++; k < count; k++) {
        size_t v = skip_ws(s, i, n);
        i = skip_value(s, v, n);
        p[k] = s + v;
        len[k] = i - v;
        i = skip_ws(s, i, n);
        if (i < n && s[i] == ',')
            i++;
        else
            break;
    }
    return k + 1 == count && i < n && s[i] == ']';
}

cJSON *cn_rpc_msg_response(const cn_rpc_id *id)
{
    cJSON *resp = cJSON_CreateObject();
    cJSON *idc = NULL;
    if (id == NULL || id->id == NULL) {
        idc = cJSON_CreateNull();
    } else if (id->raw != NULL) {
        char text[128];
        memcpy(text, id->raw, id->len);
        text[id->len] = '\0';
        idc = cJSON_CreateRaw(text);
    } else {
        idc = cJSON_Duplicate(id->id, 1);
    }
    if (resp == NULL || idc == NULL || !cJSON_AddStringToObject(resp, "jsonrpc", "2.0")) {
        cJSON_Delete(resp);
        cJSON_Delete(idc);
        return NULL;
    }
    cJSON_AddItemToObject(resp, "id", idc);
    return resp;
}

ak_err cn_rpc_msg_error(cn_rpc_answer *ans, const cn_rpc_id *id, int code, const char *message)
{
    cJSON *resp = cn_rpc_msg_response(id);
    cJSON *err = cJSON_CreateObject();
    if (resp == NULL || err == NULL || !cJSON_AddNumberToObject(err, "code", code) ||
        !cJSON_AddStringToObject(err, "message", message)) {
        cJSON_Delete(resp);
        cJSON_Delete(err);
        return AK_ERR_NOMEM;
    }
    cJSON_AddItemToObject(resp, "error", err);
    cn_metrics_rpc_error(code);
    return cn_rpc_msg_finish(ans, resp);
}

int cn_rpc_msg_id_valid(const cJSON *id)
{
    return cJSON_IsString(id) || cJSON_IsNumber(id) || cJSON_IsNull(id);
}

ak_err cn_rpc_msg_forward(const cn_transport *ds, cn_rpc_answer *ans, const char *raw,
                          size_t raw_len, const cn_rpc_id *id, int notification)
{
    char *resp = NULL, err[192] = "";
    size_t resp_len = 0;
    long status = 0;
    ak_err rc = ds->post(ds->ctx, raw, raw_len, &status, &resp, &resp_len, err, sizeof(err));
    if (notification) {
        free(resp);
        return rc == AK_ERR_NOMEM ? rc : AK_OK;
    }
    if (rc == AK_ERR_NETWORK || rc == AK_ERR_TIMEOUT)
        return cn_rpc_msg_error(ans, id, CN_E_NETWORK, err);
    if (rc == AK_ERR_NOMEM)
        return rc;
    if (rc != AK_OK)
        return cn_rpc_msg_error(ans, id, CN_E_DOWNSTREAM, err[0] ? err : "downstream error");
    cJSON *parsed = cJSON_ParseWithLength(resp, resp_len);
    int ok = cJSON_IsObject(parsed) &&
             (cJSON_HasObjectItem(parsed, "result") || cJSON_HasObjectItem(parsed, "error"));
    cJSON_Delete(parsed);
    if (!ok) {
        free(resp);
        char m[96];
        snprintf(m, sizeof(m), "downstream answered HTTP %ld without a JSON-RPC response", status);
        return cn_rpc_msg_error(ans, id, CN_E_DOWNSTREAM, m);
    }
    /* Trim the node's trailing newline so batch members join cleanly. */
    while (resp_len > 0 &&
           (resp[resp_len - 1] == '\n' || resp[resp_len - 1] == '\r' || resp[resp_len - 1] == ' '))
        resp[--resp_len] = '\0';
    ans->text = resp;
    ans->len = resp_len;
    return AK_OK;
}

const char *cn_rpc_msg_call_id(char *buf, size_t cap, const cn_rpc_id *id)
{
    const char *t = cJSON_GetStringValue(id->id);
    size_t n = t ? strlen(t) : 0;
    if (id->raw != NULL) {
        t = id->raw;
        n = id->len;
    }
    if (t == NULL || n == 0 || n >= cap)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= 'A' && t[i] <= 'Z') ||
              (t[i] >= '0' && t[i] <= '9') || t[i] == '.' || t[i] == '_' || t[i] == ':' ||
              t[i] == '-'))
            return NULL;
    memcpy(buf, t, n);
    buf[n] = '\0';
    return buf;
}
