/* cn_signer.c - the backend-independent part of signing (see cn_signer.h). */
#include "cn_signer.h"

#include <stdlib.h>
#include <string.h>

ak_err cn_raw_sig_to_eth(ak_sig *out, const cn_raw_sig *raw, const uint8_t digest[32],
                         const uint8_t pubkey[65])
{
    if (raw->form == CN_SIG_DER)
        return raw->len <= sizeof(raw->bytes)
                   ? ak_sig_from_der(out, raw->bytes, raw->len, digest, pubkey)
                   : AK_ERR_DER;
    if (raw->len != 64)
        return AK_ERR_SIG;
    if (!raw->has_recid)
        return ak_sig_from_raw64(out, raw->bytes, digest, pubkey);
    /*
     * An in-process backend (local: libsecp256k1 signs with low s and reports the recovery id)
     * signed with the key whose public key is pubkey, which saves two trial recoveries per
     * signature; the range and low-s checks still apply.
     */
    memcpy(out->r, raw->bytes, 32);
    memcpy(out->s, raw->bytes + 32, 32);
    out->recid = raw->recid;
    return ak_sig_check(out);
}

ak_err cn_signer_sign_eth(cn_signer *s, ak_sig *out, const uint8_t digest[32],
                          const cn_sign_ctx *ctx)
{
    cn_raw_sig raw = {0};
    ak_err err = s->ops->sign(s, &raw, digest, ctx);
    return err != AK_OK ? err : cn_raw_sig_to_eth(out, &raw, digest, s->pubkey);
}

void cn_signer_free(cn_signer *s)
{
    if (s == NULL)
        return;
    if (s->ops && s->ops->destroy)
        s->ops->destroy(s);
    free(s);
}

const char *cn_security_level_name(cn_security_level level)
{
    switch (level) {
    case CN_LEVEL_DEVELOPMENT:
        return "development";
    case CN_LEVEL_TESTING:
        return "testing";
    case CN_LEVEL_STAGING:
        return "staging";
    case CN_LEVEL_PRODUCTION:
        return "production";
    case CN_LEVEL_ENTERPRISE:
        return "enterprise";
    }
    return "unknown";
}
