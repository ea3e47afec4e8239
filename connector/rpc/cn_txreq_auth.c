/* cn_txreq_auth.c - the authorizationList of a type-4 transaction request (EIP-7702): signed
 * tuples {chainId, address, nonce, yParity | v, r, s}, checked and RLP-encoded (see cn_txreq.h;
 * the encoding is shared/ak_auth.h), and the one writer of a signed tuple's JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ak_addr.h"
#include "ak_hex.h"
#include "ak_json.h"
#include "ak_u256.h"
#include "cn_txreq.h"

static const char *const AUTH_MEMBERS[] = {"chainId", "address", "nonce", "yParity", "v", "r", "s"};

/* r or s of an authorization: a 0x quantity, or exactly 32 bytes of 0x hex. */
static ak_err get_word(const cJSON *obj, const char *name, const char *where, uint8_t out[32],
                       cn_rpc_err *e)
{
    const cJSON *v = cn_txreq_member(obj, name);
    ak_u256 u;
    const char *s = cJSON_IsString(v) ? v->valuestring : NULL;
    size_t sl = s ? strlen(s) : 0;
    if (s != NULL && sl == 66 && ak_hex_decode_exact(out, 32, s, sl) == AK_OK)
        return AK_OK;
    if (s == NULL || ak_u256_parse_quantity(&u, s, sl) != AK_OK) {
        cn_err_set(e, CN_E_PARAMS, "invalid or missing %s.%s: expected a 0x quantity", where, name);
        return AK_ERR_QUANTITY;
    }
    ak_u256_to_be(out, &u);
    return AK_OK;
}

/* yParity (0x0/0x1) or viem's v (0x0/0x1/0x1b/0x1c); both must agree. */
static ak_err get_parity(const cJSON *obj, const char *where, uint8_t *out, cn_rpc_err *e)
{
    uint64_t y = 0, v = 0;
    int has_y = 0, has_v = 0;
    char w[96];
    snprintf(w, sizeof(w), "%s.yParity", where);
    if (cn_txreq_get_u64(obj, "yParity", w, &y, &has_y, e) != AK_OK)
        return AK_ERR_QUANTITY;
    snprintf(w, sizeof(w), "%s.v", where);
    if (cn_txreq_get_u64(obj, "v", w, &v, &has_v, e) != AK_OK)
        return AK_ERR_QUANTITY;
    if (has_v && v >= 27 && v <= 28)
        v -= 27;
    if ((has_y && y > 1) || (has_v && v > 1) || (!has_y && !has_v) || (has_y && has_v && y != v)) {
        cn_err_set(e, CN_E_PARAMS,
                   "%s needs yParity 0x0 or 0x1 (or v; both must agree if both are given)", where);
        return AK_ERR_TX;
    }
    *out = (uint8_t)(has_y ? y : v);
    return AK_OK;
}

static ak_err get_auth(ak_auth_signed *sa, const cJSON *ent, const char *where, uint64_t chain_id,
                       cn_rpc_err *e)
{
    int has = 0;
    char w[96];
    ak_auth *a = &sa->auth;
    if (!cJSON_IsObject(ent)) {
        cn_err_set(e, CN_E_PARAMS, "%s must be an object {chainId, address, nonce, yParity, r, s}",
                   where);
        return AK_ERR_TX;
    }
    if (!cn_txreq_members_known(ent, AUTH_MEMBERS, sizeof AUTH_MEMBERS / sizeof AUTH_MEMBERS[0],
                                where, e))
        return AK_ERR_TX;
    snprintf(w, sizeof(w), "%s.chainId", where);
    if (cn_txreq_get_u256(ent, "chainId", w, &a->chain_id, &has, e) != AK_OK)
        return AK_ERR_QUANTITY;
    ak_u256 ours;
    ak_u256_from_u64(&ours, chain_id);
    if (!has || (!ak_u256_is_zero(&a->chain_id) && ak_u256_cmp(&a->chain_id, &ours) != 0)) {
        cn_err_set(e, CN_E_PARAMS,
                   "%s.chainId must be given and be 0x0 or this chain (%llu): an authorization "
                   "for another chain would be skipped",
                   where, (unsigned long long)chain_id);
        return AK_ERR_CHAIN_ID;
    }
    const cJSON *addr = cn_txreq_member(ent, "address");
    if (!cJSON_IsString(addr) ||
        ak_addr_parse(a->address, addr->valuestring, strlen(addr->valuestring)) != AK_OK) {
        cn_err_set(e, CN_E_PARAMS, "invalid or missing %s.address", where);
        return AK_ERR_ADDRESS;
    }
    snprintf(w, sizeof(w), "%s.nonce", where);
    if (cn_txreq_get_u64(ent, "nonce", w, &a->nonce, &has, e) != AK_OK)
        return AK_ERR_QUANTITY;
    if (!has) {
        cn_err_set(e, CN_E_PARAMS, "missing %s.nonce", where);
        return AK_ERR_TX;
    }
    if (get_parity(ent, where, &sa->sig.recid, e) != AK_OK ||
        get_word(ent, "r", where, sa->sig.r, e) != AK_OK ||
        get_word(ent, "s", where, sa->sig.s, e) != AK_OK)
        return AK_ERR_TX;
    return AK_OK;
}

/* authorizationList: 1..CN_TXREQ_MAX_AUTHS signed tuples (EIP-7702: an empty list is invalid). */
ak_err cn_txreq_get_auths(cn_txreq *t, const cJSON *obj, uint64_t chain_id, cn_rpc_err *e)
{
    const cJSON *arr = cn_txreq_member(obj, "authorizationList");
    const cJSON *ent;
    if (arr == NULL)
        return AK_OK;
    int n = cJSON_GetArraySize(arr);
    if (!cJSON_IsArray(arr) || n < 1 || n > CN_TXREQ_MAX_AUTHS) {
        cn_err_set(e, CN_E_PARAMS, "authorizationList must be an array of 1..%d authorizations",
                   CN_TXREQ_MAX_AUTHS);
        return AK_ERR_TX;
    }
    t->auths = calloc((size_t)n, sizeof(*t->auths));
    if (t->auths == NULL) {
        cn_err_set(e, CN_E_INTERNAL, "out of memory");
        return AK_ERR_NOMEM;
    }
    t->auth_list = malloc(AK_AUTH_MAX_LIST_RLP);
    if (t->auth_list == NULL) {
        cn_err_set(e, CN_E_INTERNAL, "out of memory");
        return AK_ERR_NOMEM;
    }
    ak_buf b = ak_buf_init(t->auth_list, AK_AUTH_MAX_LIST_RLP);
    size_t mark = ak_auth_list_begin(&b);
    cJSON_ArrayForEach(ent, arr)
    {
        char where[48];
        snprintf(where, sizeof(where), "authorizationList[%zu]", t->n_auths);
        ak_err rc = get_auth(&t->auths[t->n_auths], ent, where, chain_id, e);
        if (rc != AK_OK)
            return rc;
        rc = ak_auth_list_add(&b, &t->auths[t->n_auths]);
        if (rc != AK_OK) {
            cn_err_set(e, CN_E_PARAMS,
                       rc == AK_ERR_SIG ? "%s: r and s must be in [1, n-1] with s <= n/2 "
                                          "(EIP-2); the tuple would be skipped"
                                        : "%s: cannot be encoded",
                       where);
            return rc;
        }
        t->n_auths++;
    }
    if (ak_auth_list_end(&b, mark) != AK_OK) {
        cn_err_set(e, CN_E_PARAMS, "authorizationList too large");
        return AK_ERR_LIMIT;
    }
    t->tx.auth_list_rlp = t->auth_list;
    t->tx.auth_list_rlp_len = b.len;
    return AK_OK;
}

cJSON *cn_txreq_auth_json(const ak_auth *auth, const ak_sig *sig)
{
    char addr[AK_ADDR_STR_SIZE];
    ak_u256 v;
    cJSON *o = cJSON_CreateObject();
    int ok = o != NULL && ak_json_add_quantity(o, "chainId", &auth->chain_id) == AK_OK;
    ak_addr_to_checksum(addr, auth->address);
    ok = ok && cJSON_AddStringToObject(o, "address", addr) != NULL;
    ak_u256_from_u64(&v, auth->nonce);
    ok = ok && ak_json_add_quantity(o, "nonce", &v) == AK_OK;
    ak_u256_from_u64(&v, sig->recid);
    ok = ok && ak_json_add_quantity(o, "yParity", &v) == AK_OK;
    ok =
        ok && ak_u256_from_be(&v, sig->r, 32) == AK_OK && ak_json_add_quantity(o, "r", &v) == AK_OK;
    ok =
        ok && ak_u256_from_be(&v, sig->s, 32) == AK_OK && ak_json_add_quantity(o, "s", &v) == AK_OK;
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}
