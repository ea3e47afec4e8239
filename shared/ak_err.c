/* ak_err.c - texts and names of the error codes (see ak_err.h). */
#include "ak_err.h"

#include <stddef.h>

typedef struct {
    ak_err code;
    const char *name;
    const char *text;
} ak_err_info;

static const ak_err_info ak_err_table[] = {
    {AK_OK, "ok", "success"},
    {AK_ERR_ARG, "invalid_argument", "invalid argument"},
    {AK_ERR_NOMEM, "out_of_memory", "out of memory"},
    {AK_ERR_BUFFER, "buffer_too_small", "output buffer too small"},
    {AK_ERR_LIMIT, "limit_exceeded", "input exceeds a configured limit"},
    {AK_ERR_RANGE, "out_of_range", "value out of range"},
    {AK_ERR_INTERNAL, "internal_error", "internal error"},
    {AK_ERR_HEX, "invalid_hex", "invalid hex data (expected 0x and an even number of hex digits)"},
    {AK_ERR_QUANTITY, "invalid_quantity",
     "invalid quantity (expected 0x hex without leading zeros)"},
    {AK_ERR_DECIMAL, "invalid_decimal", "invalid decimal integer"},
    {AK_ERR_BASE64, "invalid_base64", "invalid base64"},
    {AK_ERR_JSON, "invalid_json", "invalid JSON"},
    {AK_ERR_RLP, "invalid_rlp", "invalid or non-canonical RLP"},
    {AK_ERR_ADDRESS, "invalid_address", "invalid address (expected 0x and 40 hex digits)"},
    {AK_ERR_CHECKSUM, "bad_checksum", "address has an invalid EIP-55 checksum"},
    {AK_ERR_TX, "invalid_transaction", "invalid transaction"},
    {AK_ERR_TX_TYPE, "unsupported_transaction_type", "unsupported transaction type"},
    {AK_ERR_CHAIN_ID, "wrong_chain_id", "wrong or missing chain id"},
    {AK_ERR_EIP712, "invalid_typed_data", "invalid EIP-712 typed data"},
    {AK_ERR_DER, "invalid_der", "invalid DER signature"},
    {AK_ERR_SIG, "invalid_signature", "invalid signature"},
    {AK_ERR_RECOVER, "signature_mismatch", "signature does not recover to the key's address"},
    {AK_ERR_PUBKEY, "invalid_public_key", "invalid or non-secp256k1 public key"},
    {AK_ERR_PRIVKEY, "invalid_private_key", "invalid private key"},
    {AK_ERR_CRYPTO, "crypto_error", "cryptographic library error"},
    {AK_ERR_HSM, "hsm_error", "HSM operation failed"},
    {AK_ERR_HSM_UNAVAILABLE, "hsm_unavailable", "HSM unavailable"},
    {AK_ERR_KEY_NOT_FOUND, "key_not_found", "key not found"},
    {AK_ERR_KEY_TYPE, "unsupported_key", "key is not a readable secp256k1 key"},
    {AK_ERR_PIN, "pin_error", "PIN missing or rejected"},
    {AK_ERR_URI, "invalid_pkcs11_uri", "invalid pkcs11: URI"},
    {AK_ERR_BUSY, "busy", "all signing sessions busy"},
    {AK_ERR_IO, "io_error", "I/O error"},
    {AK_ERR_TIMEOUT, "timeout", "deadline exceeded"},
    {AK_ERR_NETWORK, "network_error", "network error"},
    {AK_ERR_UPSTREAM, "upstream_error", "remote service returned an error"},
    {AK_ERR_CONFIG, "invalid_config", "invalid configuration"},
    {AK_ERR_AUTH, "unauthenticated", "authentication failed"},
    {AK_ERR_FORBIDDEN, "forbidden", "not allowed"},
    {AK_ERR_NOT_FOUND, "not_found", "not found"},
    {AK_ERR_AUDIT, "audit_unavailable", "audit record could not be written"},
    {AK_ERR_UNAVAILABLE, "unavailable", "service temporarily unavailable"},
};

static const ak_err_info *ak_err_lookup(ak_err err)
{
    for (size_t i = 0; i < sizeof(ak_err_table) / sizeof(ak_err_table[0]); i++) {
        if (ak_err_table[i].code == err)
            return &ak_err_table[i];
    }
    return NULL;
}

const char *ak_strerror(ak_err err)
{
    const ak_err_info *info = ak_err_lookup(err);
    return info ? info->text : "unknown error";
}

const char *ak_errname(ak_err err)
{
    const ak_err_info *info = ak_err_lookup(err);
    return info ? info->name : "unknown_error";
}
