/* ak_opsig.c - OP Stack block-payload signing (see ak_opsig.h). */
#include "ak_opsig.h"

#include <string.h>

#include "ak_keccak.h"

void ak_opsig_signing_hash(uint8_t out[32], const ak_opsig_block *blk)
{
    uint8_t in[96];
    memcpy(in, blk->domain, 32);
    ak_u256_to_be(in + 32, &blk->chain_id);
    memcpy(in + 64, blk->payload_hash, 32);
    ak_keccak256(out, in, sizeof in);
}

void ak_opsig_payload_hash(uint8_t out[32], const uint8_t *payload, size_t len)
{
    ak_keccak256(out, payload, len);
}

int ak_opsig_domain_is_blocks_v1(const uint8_t domain[32])
{
    uint8_t acc = 0;
    for (size_t i = 0; i < 32; i++)
        acc |= domain[i];
    return acc == 0;
}

void ak_opsig_signature65(uint8_t out[65], const ak_sig *sig)
{
    memcpy(out, sig->r, 32);
    memcpy(out + 32, sig->s, 32);
    out[64] = sig->recid;
}

ak_err ak_opsig_block_v1_from_json(ak_opsig_block *out, const cJSON *obj, char *why, size_t why_cap)
{
    (void)obj;
    if (out != NULL)
        memset(out, 0, sizeof *out);
    if (why != NULL && why_cap > 0)
        why[0] = '\0';
    return AK_ERR_INTERNAL; /* filled in next */
}

ak_err ak_opsig_block_v2_from_json(ak_opsig_block *out, const cJSON *obj, char *why, size_t why_cap)
{
    (void)obj;
    if (out != NULL)
        memset(out, 0, sizeof *out);
    if (why != NULL && why_cap > 0)
        why[0] = '\0';
    return AK_ERR_INTERNAL; /* filled in next */
}
