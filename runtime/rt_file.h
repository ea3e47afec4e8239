/*
 * rt_file.h - a whole file read into memory, bounded: the size limit is the caller's, a longer
 * file is an error (never cut). For configuration-side files (token lists, JWKS, PEM, secrets).
 * read(2), not stdio: no library buffer keeps a copy of a secret.
 *
 * Ownership: rt_file_read's *out is malloc'd (max + 1 bytes, NUL-terminated at *len); the caller
 * frees it, after ak_wipe() when it held a secret. On failure nothing is returned and the buffer
 * read so far is wiped. rt_file_read_into fills the caller's buffer (locked memory for secrets).
 */
#ifndef RT_FILE_H
#define RT_FILE_H

#include <stddef.h>

#include "ak_err.h"

/* AK_ERR_IO (cannot open or read), AK_ERR_LIMIT (more than max bytes), AK_ERR_NOMEM. */
AK_WUR ak_err rt_file_read(char **out, size_t *len, const char *path, size_t max);

/* The file into buf (cap >= 1): at most cap - 1 bytes, NUL-terminated, *len bytes. AK_ERR_IO,
 * AK_ERR_LIMIT (longer than cap - 1 bytes); on failure buf is wiped and *len is 0. */
AK_WUR ak_err rt_file_read_into(char *buf, size_t cap, size_t *len, const char *path);

#endif
