/*
 * cn_secfile.h - secret files (issue 18): a file holding a secret (bearer tokens, local key,
 * mnemonic or passphrase, PKCS#11 PIN, the TLS listener's key, the client key to the key server,
 * remote-signer tokens) must be a regular file owned by the daemon's user and not readable or
 * writable by group or others (mode 0600 or 0400); otherwise start-up (or a SIGHUP reload of the
 * token file) fails with a message naming the file and the reason.
 *
 * The override, for containers whose mounted secrets are not ours to chmod: the configuration's
 * "allow_insecure_secret_files": true (cn_config_settings() calls
 * cn_secret_files_allow_insecure) or ANODE_ALLOW_INSECURE_SECRET_FILES=1 in the environment; the
 * check then only logs a warning per file. Process-wide, thread-safe.
 */
#ifndef CN_SECFILE_H
#define CN_SECFILE_H

#include <stddef.h>

#include "ak_err.h"

/* AK_OK, or AK_ERR_CONFIG with err naming path and the problem. A file that does not exist
 * passes (the read that follows reports it). */
AK_WUR ak_err cn_secret_file_check(const char *path, char *err, size_t err_cap);

void cn_secret_files_allow_insecure(int allow);

#endif
