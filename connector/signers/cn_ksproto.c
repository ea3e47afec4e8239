/* cn_ksproto.c - the key server's wire protocol, connector side (see cn_ksproto.h). */
#include "cn_ksproto.h"

#include <stdio.h>
#include <string.h>

#include "ak_addr.h"
#include "ak_b64.h"
#include "ak_hex.h"

static int str_is(const cJSON *obj, const char *name, const char *want)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(v) && strcmp(v->valuestring, want) == 0;
}

ak_err cn_ksproto_item(char *dst, size_t cap, size_t *len, const char *key_id,
                       const uint8_t digest[32], const char *rid, const char *intent)
{
    char b64[AK_B64_ENCODED_SIZE(32)];
    ak_err rc = ak_b64_encode(b64, sizeof b64, digest, 32);
    if (rc != AK_OK)
        return rc;
    int n = snprintf(dst, cap,
                     "{\"key_id\":\"%s\",\"algorithm\":\"ECDSA_SHA256\",\"data\":\"%s\","
                     "\"request_id\":\"%s\"%s%s}",
                     key_id, b64, rid, intent ? ",\"intent\":" : "", intent ? intent : "");
    if (n < 0 || (size_t)n >= cap)
        return AK_ERR_BUFFER;
    *len = (size_t)n;
    return AK_OK;
}

ak_err cn_ksproto_sig(cn_raw_sig *out, const cJSON *res, const char *key_id, const char *rid)
{
    const cJSON *sig = cJSON_GetObjectItemCaseSensitive(res, "signature");
    if (!str_is(res, "key_id", key_id) || !str_is(res, "algorithm", "ECDSA_SHA256") ||
        !str_is(res, "request_id", rid) || !cJSON_IsString(sig))
        return AK_ERR_UPSTREAM;
    if (ak_b64_decode(out->bytes, sizeof out->bytes, &out->len, sig->valuestring,
                      strlen(sig->valuestring)) != AK_OK)
        return AK_ERR_UPSTREAM;
    out->form = CN_SIG_DER;
    out->has_recid = 0;
    return AK_OK;
}

ak_err cn_ksproto_item_err(const cJSON *res, int *alone)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(res, "error");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "code");
    *alone = 0;
    if (!cJSON_IsString(c))
        return AK_ERR_UPSTREAM;
    if (strcmp(c->valuestring, "key_not_allowed") == 0 ||
        strcmp(c->valuestring, "forbidden") == 0 || strcmp(c->valuestring, "policy_denied") == 0)
        return AK_ERR_FORBIDDEN;
    if (strcmp(c->valuestring, "key_not_found") == 0 || strcmp(c->valuestring, "not_found") == 0)
        return AK_ERR_KEY_NOT_FOUND;
    if (strstr(c->valuestring, "unavailable") != NULL) {
        *alone = 1;
        return AK_ERR_UNAVAILABLE;
    }
    return AK_ERR_UPSTREAM;
}

ak_err cn_ksproto_pubkey(uint8_t pub[65], uint8_t addr[20], const cJSON *ans, const char *key_id,
                         char *err, size_t cap)
{
    return cn_ksproto_pubkey_at(pub, addr, ans, key_id, "keyless: /pubkey", err, cap);
}

ak_err cn_ksproto_pubkey_at(uint8_t pub[65], uint8_t addr[20], const cJSON *ans, const char *key_id,
                            const char *where, char *err, size_t cap)
{
    uint8_t raw[65], a2[20];
    size_t raw_len = 0;
    const cJSON *pk = cJSON_GetObjectItemCaseSensitive(ans, "public_key");
    const cJSON *ad = cJSON_GetObjectItemCaseSensitive(ans, "address");
    if (!str_is(ans, "key_id", key_id) || !str_is(ans, "curve", "secp256k1") ||
        !cJSON_IsString(pk) || !cJSON_IsString(ad)) {
        AK_SET_ERR(err, cap, "%s answer malformed (key_id, curve, public_key, address)", where);
        return AK_ERR_UPSTREAM;
    }
    if (ak_hex_decode(raw, sizeof raw, &raw_len, pk->valuestring, strlen(pk->valuestring)) !=
            AK_OK ||
        ak_pubkey_parse(pub, raw, raw_len) != AK_OK) {
        AK_SET_ERR(err, cap, "%s public_key is not a secp256k1 point", where);
        return AK_ERR_UPSTREAM;
    }
    if (ak_addr_parse(a2, ad->valuestring, strlen(ad->valuestring)) != AK_OK) {
        AK_SET_ERR(err, cap, "%s address is not a valid address", where);
        return AK_ERR_UPSTREAM;
    }
    ak_addr_from_pubkey(addr, pub);
    if (memcmp(addr, a2, 20) != 0) {
        AK_SET_ERR(err, cap, "%s address does not match keccak(public_key)", where);
        return AK_ERR_UPSTREAM;
    }
    return AK_OK;
}
