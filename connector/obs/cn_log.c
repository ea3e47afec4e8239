/* cn_log.c - structured JSON/text log lines on stderr (see cn_log.h). */
#include "cn_log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static cn_log_level g_level = CN_LOG_INFO;
static int g_json = 1;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *level_name(cn_log_level l)
{
    switch (l) {
    case CN_LOG_DEBUG:
        return "debug";
    case CN_LOG_INFO:
        return "info";
    case CN_LOG_WARN:
        return "warn";
    case CN_LOG_ERROR:
        return "error";
    }
    return "info";
}

void cn_log_setup(cn_log_level level, int json)
{
    g_level = level;
    g_json = json;
}

int cn_log_level_parse(cn_log_level *out, const char *s)
{
    static const cn_log_level all[] = {CN_LOG_DEBUG, CN_LOG_INFO, CN_LOG_WARN, CN_LOG_ERROR};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (strcmp(s, level_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    }
    return -1;
}

int cn_log_enabled(cn_log_level level)
{
    return level >= g_level;
}

/* Append the literal s, bounded (the line is cut, never overrun). */
static size_t put_lit(char *line, size_t len, size_t cap, const char *s)
{
    while (*s && len < cap)
        line[len++] = *s++;
    return len;
}

/* Append s as a JSON string body (no quotes) or raw text, bounded; returns new length. */
static size_t put_value(char *line, size_t len, size_t cap, const char *s, int json)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && len + 8 < cap; p++, n++) {
        if (n >= CN_LOG_VALUE_MAX) {
            len = put_lit(line, len, cap, "...");
            break;
        }
        unsigned char c = *p;
        if (json && (c == '"' || c == '\\')) {
            line[len++] = '\\';
            line[len++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            if (json) {
                char esc[8];
                snprintf(esc, sizeof(esc), "\\u%04x", c);
                len = put_lit(line, len, cap, esc);
            } else
                line[len++] = '?';
        } else {
            line[len++] = (char)c;
        }
    }
    return len;
}

void cn_log(cn_log_level level, const char *msg, ...)
{
    if (!cn_log_enabled(level))
        return;
    char line[4096];
    size_t cap = sizeof(line) - 2, len = 0;
    char ts[40];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    size_t tl = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + tl, sizeof(ts) - tl, ".%03ldZ", now.tv_nsec / 1000000L);

    if (g_json) {
        len = put_lit(line, len, cap, "{\"ts\":\"");
        len = put_lit(line, len, cap, ts);
        len = put_lit(line, len, cap, "\",\"level\":\"");
        len = put_lit(line, len, cap, level_name(level));
        len = put_lit(line, len, cap, "\",\"msg\":\"");
        len = put_value(line, len, cap, msg, 1);
        len = put_lit(line, len, cap, "\"");
    } else {
        char head[64];
        snprintf(head, sizeof(head), "%s %-5s ", ts, level_name(level));
        len = put_lit(line, len, cap, head);
        len = put_value(line, len, cap, msg, 0);
    }

    va_list ap;
    va_start(ap, msg);
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (k == NULL || len + 16 >= cap)
            break;
        const char *v = va_arg(ap, const char *);
        if (v == NULL)
            v = "";
        if (g_json) {
            len = put_lit(line, len, cap, ",\"");
            len = put_value(line, len, cap, k, 1);
            len = put_lit(line, len, cap, "\":\"");
            len = put_value(line, len, cap, v, 1);
            len = put_lit(line, len, cap, "\"");
        } else {
            len = put_lit(line, len, cap, " ");
            len = put_value(line, len, cap, k, 0);
            len = put_lit(line, len, cap, "=");
            len = put_value(line, len, cap, v, 0);
        }
    }
    va_end(ap);
    if (g_json && len < cap)
        line[len++] = '}';
    line[len++] = '\n';
    pthread_mutex_lock(&g_lock);
    fwrite(line, 1, len, stderr);
    fflush(stderr);
    pthread_mutex_unlock(&g_lock);
}
