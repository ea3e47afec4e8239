/*
 * cn_log.h - the connector's structured log: one line per event on stderr, as JSON objects
 * ({"ts","level","msg", key: value...}) or as text ("ts LEVEL msg key=value ..."), thread-safe.
 *
 * Callers pass key/value string pairs ending with NULL. Never pass a secret (key, PIN, token,
 * Authorization header) as a value: the log writes whatever it is given. Values longer than
 * CN_LOG_VALUE_MAX bytes are cut and marked with "..." (logs are diagnostics, not data).
 */
#ifndef CN_LOG_H
#define CN_LOG_H

#include <stddef.h>

#define CN_LOG_VALUE_MAX 512

typedef enum { CN_LOG_DEBUG = 0, CN_LOG_INFO, CN_LOG_WARN, CN_LOG_ERROR } cn_log_level;

/* Set the threshold and format (json != 0: JSON lines). Defaults: info, json. */
void cn_log_setup(cn_log_level level, int json);

/* Parse "debug"|"info"|"warn"|"error"; 0 on success, -1 otherwise. */
int cn_log_level_parse(cn_log_level *out, const char *s);

int cn_log_enabled(cn_log_level level);

/* cn_log(CN_LOG_INFO, "started", "port", "9000", (char *)NULL); */
void cn_log(cn_log_level level, const char *msg, ...) __attribute__((sentinel));

#endif
