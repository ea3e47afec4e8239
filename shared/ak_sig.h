/*
 * ak_sig.h - ECDSA signatures over secp256k1: DER <-> (r,s), low-s normalisation (EIP-2),
 * recovery id by trial recovery, and Ethereum's output forms.
 *
 * The HSM signs a 32-byte digest and returns DER (SEQUENCE{INTEGER r, INTEGER s}) or raw r||s.
 * Ethereum wants (r, s, v) with s <= n/2 and v telling which of the two candidate public keys
 * is the signer's. We normalise s, try recovery id 0 and 1 against the key's known public key,
 * and refuse (AK_ERR_RECOVER) a signature that recovers to neither: never return a wrong one.
 *
 * Recovery uses libsecp256k1's static context (secp256k1_context_static): no global state.
 */
#ifndef AK_SIG_H
#define AK_SIG_H

#include <stddef.h>
#include <stdint.h>

#include "ak_err.h"

#define AK_DER_SIG_MAX 72 /* 30 46 02 21 r(33) 02 21 s(33) */

typedef struct {
    uint8_t r[32];
    uint8_t s[32]; /* low-s after ak_sig_* conversion */
    uint8_t recid; /* 0 or 1 (y parity of R) */
} ak_sig;

/*
 * Strict DER parse: one SEQUENCE of two positive, minimally encoded INTEGERs, definite short
 * lengths, no trailing bytes, each integer's minimal form 1..33 bytes (33 only with a leading
 * 0x00 before a high bit). r and s must be in [1, n-1]. Output as 32-byte big-endian.
 */
AK_WUR ak_err ak_der_sig_parse(uint8_t r[32], uint8_t s[32], const uint8_t *der, size_t len);
/* Minimal DER encoding of (r, s); cap >= AK_DER_SIG_MAX is always enough. */
AK_WUR ak_err ak_der_sig_encode(uint8_t *out, size_t cap, size_t *len, const uint8_t r[32],
                                const uint8_t s[32]);

/* EIP-2: if s > n/2, replace s with n - s. Returns 1 if s was changed. */
int ak_sig_normalize_s(uint8_t s[32]);

/*
 * (r, s) over digest by the key pub65 (uncompressed 04|X|Y) -> *out with low s and the recovery
 * id whose recovered key equals pub65. AK_ERR_SIG for r/s out of range, AK_ERR_RECOVER if
 * neither recovery id yields pub65.
 */
AK_WUR ak_err ak_sig_from_rs(ak_sig *out, const uint8_t r[32], const uint8_t s[32],
                             const uint8_t digest[32], const uint8_t pub65[65]);
/* DER (strict) then ak_sig_from_rs. */
AK_WUR ak_err ak_sig_from_der(ak_sig *out, const uint8_t *der, size_t der_len,
                              const uint8_t digest[32], const uint8_t pub65[65]);
/* Raw 64-byte r||s (PKCS#11 CKM_ECDSA output) then ak_sig_from_rs. */
AK_WUR ak_err ak_sig_from_raw64(ak_sig *out, const uint8_t raw[64], const uint8_t digest[32],
                                const uint8_t pub65[65]);

/* The public key (04|X|Y) that sig over digest recovers to. Requires low s. */
AK_WUR ak_err ak_sig_recover_pubkey(uint8_t pub65[65], const ak_sig *sig, const uint8_t digest[32]);
/* The address that sig over digest recovers to. */
AK_WUR ak_err ak_sig_recover_address(uint8_t addr[20], const ak_sig *sig, const uint8_t digest[32]);

/*
 * AK_OK if sig is usable as an Ethereum signature: r and s in [1, n-1], s low (EIP-2), recid 0
 * or 1. AK_ERR_SIG otherwise. Used before serializing and after parsing.
 */
AK_WUR ak_err ak_sig_check(const ak_sig *sig);

/* 65-byte r || s || v with v = 27 + recid (eth_sign / personal_sign / EIP-712 form). */
void ak_sig_to_rsv(uint8_t out[65], const ak_sig *sig);
/* Parse 65-byte r||s||v; v may be 0/1 or 27/28. High s is rejected (AK_ERR_SIG). */
AK_WUR ak_err ak_sig_from_rsv(ak_sig *out, const uint8_t in[65]);

#endif
