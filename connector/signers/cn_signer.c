/* cn_signer.c - the backend-independent part of signing (see cn_signer.h). */
#include "cn_signer.h"

#include <stdlib.h>
#include <string.h>

ak_err cn_signer_sign_eth(cn_signer *s, ak_sig *out, const uint8_t digest[32],
                          const cn_sign_ctx *ctx)
{
    cn_raw_sig raw = {0};
    ak_err err = s->ops->sign(s, &raw, digest, ctx);
    if (err != AK_OK)
        return err;

    if (raw.form == CN_SIG_DER)
        return ak_sig_from_der(out, raw.bytes, raw.len, digest, s->pubkey);
    if (raw.len != 64)
        return AK_ERR_SIG;
    if (!raw.has_recid)
        return ak_sig_from_raw64(out, raw.bytes, digest, s->pubkey);

    /*
     * The backend knows the recovery id (libsecp256k1 signs with low s and reports it), which
     * saves two trial recoveries per signature; the range and low-s checks still apply.
     */
    memcpy(out->r, raw.bytes, 32);
    memcpy(out->s, raw.bytes + 32, 32);
    out->recid = raw.recid;
    return ak_sig_check(out);
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
