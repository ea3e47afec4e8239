/*
 * rt_file.h - a whole file read into memory, bounded: the size limit is the caller's, a longer
 * file is an error (never cut). For configuration-side files (token lists, JWKS, PEM).
 *
 * Ownership: *out is malloc'd (max + 1 bytes, NUL-terminated at *len); the caller frees it, after
 * ak_wipe() when it held a secret. On failure nothing is returned and the buffer read so far is
 * wiped.
 */
#ifndef RT_FILE_H
#define RT_FILE_H

#include <stddef.h>

#include "ak_err.h"

/* AK_ERR_IO (cannot open or read), AK_ERR_LIMIT (more than max bytes), AK_ERR_NOMEM. */
AK_WUR ak_err rt_file_read(char **out, size_t *len, const char *path, size_t max);

#endif
