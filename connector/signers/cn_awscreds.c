/* cn_awscreds.c - AWS container / instance credentials (see cn_awscreds.h). */
#include "cn_awscreds.h" /* timegm and strptime: the build defines _GNU_SOURCE */

#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "ak_secmem.h"
#include "cn_rhttp.h"

#define ANSWER_MAX (16 * 1024)
#define URL_MAX    1024

static void set_err(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

/* The one header line of a request, if any (cn_rhttp_headers_fn; wiped after the attempt). */
static ak_err header_line(void *user, struct curl_slist **out, const char *method, const char *path,
                          const char *body, size_t body_len)
{
    (void)method;
    (void)path;
    (void)body;
    (void)body_len;
    *out = user != NULL ? curl_slist_append(NULL, user) : NULL;
    return user == NULL || *out != NULL ? AK_OK : AK_ERR_NOMEM;
}

/* One request with the connector's HTTP client (no proxy from the environment: the credentials
 * must not travel through one; no redirects; TLS >= 1.2), no retry. header may be NULL. */
static AK_WUR ak_err http(cn_rhttp *h, cn_rhttp_resp *a, const char *method, const char *url,
                          const char *header, long timeout_ms, long *status, char *err, size_t cap)
{
    cn_rhttp_req q = {.method = method,
                      .base = url,
                      .path = "",
                      .headers_fn = header_line,
                      .user = (void *)(uintptr_t)header};
    cn_rhttp_hooks hk = {.check = cn_rhttp_accept_any};
    ak_err rc = cn_rhttp_call_until(h, &q, &hk, a, cn_rhttp_now_ms() + timeout_ms, 0);
    if (rc != AK_OK)
        set_err(err, cap, "%s",
                a->overflow           ? "answer too large"
                : a->curl != CURLE_OK ? curl_easy_strerror(a->curl)
                                      : ak_strerror(rc));
    *status = a->status;
    return rc;
}

/* An https URL, or plain http to a loopback or the ECS/EKS credential address (the AWS SDKs'
 * rule), without userinfo: parsed by libcurl itself, so that what is checked is what it will
 * connect to. */
static int url_allowed(const char *url)
{
    static const char *const ok[] = {"localhost", "[::1]", "169.254.170.2", "169.254.170.23",
                                     "[fd00:ec2::23]"};
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *user = NULL, *pass = NULL;
    int allowed = 0;
    if (u == NULL || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
        goto out;
    if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
        curl_url_get(u, CURLUPART_PASSWORD, &pass, 0) == CURLUE_OK)
        goto out; /* userinfo: refused, whatever the host */
    if (strcmp(scheme, "https") == 0) {
        allowed = 1;
    } else if (strcmp(scheme, "http") == 0) {
        allowed = strncmp(host, "127.", 4) == 0;
        for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
            allowed |= strcasecmp(host, ok[i]) == 0;
    }
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(user);
    curl_free(pass);
    curl_url_cleanup(u);
    return allowed;
}

static int disabled(const char *v)
{
    return v != NULL && strcasecmp(v, "true") == 0;
}

cn_awscreds_src cn_awscreds_source(void)
{
    const char *rel = getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *full = getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    if ((rel != NULL && rel[0] != '\0') || (full != NULL && full[0] != '\0'))
        return CN_AWSCREDS_CONTAINER;
    return disabled(getenv("AWS_EC2_METADATA_DISABLED")) ? CN_AWSCREDS_NONE : CN_AWSCREDS_INSTANCE;
}

const char *cn_awscreds_source_name(cn_awscreds_src src)
{
    return src == CN_AWSCREDS_CONTAINER  ? "container credentials endpoint"
           : src == CN_AWSCREDS_INSTANCE ? "EC2 instance metadata (IMDSv2)"
                                         : "none";
}

/* "YYYY-MM-DDTHH:MM:SSZ" (fractions allowed) -> time_t; 0 if it does not parse. */
static time_t parse_time(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (end == NULL)
        return 0;
    if (*end == '.') {
        const char *d = ++end;
        while (*end >= '0' && *end <= '9')
            end++;
        if (end == d)
            return 0; /* "." without digits */
    }
    if (strcmp(end, "Z") != 0 || tm.tm_year < 100) /* before 2000: not an expiry */
        return 0;
    return timegm(&tm);
}

static int copy_field(char *out, size_t cap, const cJSON *j, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
    if (!cJSON_IsString(v) || v->valuestring[0] == '\0' || strlen(v->valuestring) >= cap)
        return 0;
    for (const char *p = v->valuestring; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return 0;
    memcpy(out, v->valuestring, strlen(v->valuestring) + 1);
    return 1;
}

/* The credential document of both sources. */
static AK_WUR ak_err parse_doc(cn_awscreds *out, const char *text, const char *from, char *err,
                               size_t cap)
{
    cJSON *j = cJSON_Parse(text);
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(j, "Code");
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(j, "Expiration");
    ak_err rc = AK_ERR_AUTH;
    memset(out, 0, sizeof *out);
    if (!cJSON_IsObject(j)) {
        set_err(err, cap, "%s: the answer is not a JSON object", from);
    } else if (code != NULL &&
               (!cJSON_IsString(code) || strcmp(code->valuestring, "Success") != 0)) {
        set_err(err, cap, "%s: Code is not \"Success\"", from);
    } else if (!copy_field(out->akid, sizeof out->akid, j, "AccessKeyId") ||
               !copy_field(out->secret, sizeof out->secret, j, "SecretAccessKey") ||
               !copy_field(out->token, sizeof out->token, j, "Token")) {
        set_err(err, cap, "%s: AccessKeyId, SecretAccessKey and Token must be printable strings",
                from);
    } else if (exp != NULL &&
               (!cJSON_IsString(exp) || !(out->expires = parse_time(exp->valuestring)))) {
        set_err(err, cap, "%s: Expiration is not an RFC 3339 UTC time", from);
    } else {
        rc = AK_OK;
    }
    if (rc != AK_OK)
        ak_wipe(out, sizeof *out);
    if (j != NULL) /* the parsed secrets live in cJSON's heap strings */
        for (cJSON *f = j->child; f != NULL; f = f->next)
            if (cJSON_IsString(f))
                ak_wipe(f->valuestring, strlen(f->valuestring));
    cJSON_Delete(j);
    return rc;
}

static AK_WUR ak_err fetch_container(cn_awscreds *out, cn_rhttp *h, long timeout_ms,
                                     cn_rhttp_resp *a, char *err, size_t cap)
{
    char url[URL_MAX], hdr[CN_AWSCREDS_TOKEN_MAX + 32] = "";
    const char *rel = getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *full = getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    const char *tok = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    const char *tok_file = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    long status = 0;
    ak_err rc;
    if (rel != NULL && rel[0] != '\0')
        snprintf(url, sizeof url, "http://169.254.170.2%s", rel);
    else
        snprintf(url, sizeof url, "%s", full != NULL ? full : "");
    if (rel != NULL && rel[0] != '\0' && rel[0] != '/') {
        set_err(err, cap, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: must start with /");
        return AK_ERR_CONFIG;
    }
    if (!url_allowed(url)) {
        set_err(err, cap,
                "AWS_CONTAINER_CREDENTIALS_FULL_URI: plain http only to a loopback or the "
                "ECS/EKS credential address");
        return AK_ERR_CONFIG;
    }
    if (tok_file != NULL && tok_file[0] != '\0') {
        /* read(2), not stdio: no library buffer keeps a copy of the token */
        int fd = open(tok_file, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, hdr + 15, sizeof hdr - 16) : -1;
        if (fd >= 0)
            close(fd);
        if (n <= 0) {
            set_err(err, cap, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: cannot read it");
            return AK_ERR_CONFIG;
        }
        memcpy(hdr, "Authorization: ", 15);
        hdr[15 + n] = '\0';
        hdr[strcspn(hdr, "\r\n")] = '\0'; /* the file's trailing newline */
    } else if (tok != NULL && tok[0] != '\0') {
        if (strcspn(tok, "\r\n") != strlen(tok)) {
            set_err(err, cap, "AWS_CONTAINER_AUTHORIZATION_TOKEN: holds a line break");
            return AK_ERR_CONFIG;
        }
        snprintf(hdr, sizeof hdr, "Authorization: %s", tok);
    }
    rc = http(h, a, "GET", url, hdr[0] ? hdr : NULL, timeout_ms, &status, err, cap);
    ak_wipe(hdr, sizeof hdr);
    if (rc != AK_OK)
        return rc;
    if (status != 200) {
        set_err(err, cap, "container credentials endpoint: HTTP %ld", status);
        return AK_ERR_AUTH;
    }
    return parse_doc(out, a->body, "container credentials endpoint", err, cap);
}

static AK_WUR ak_err fetch_instance(cn_awscreds *out, cn_rhttp *h, long timeout_ms,
                                    cn_rhttp_resp *a, char *err, size_t cap)
{
    const char *ep = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    char base[URL_MAX], url[URL_MAX + 256], hdr[512], role[128];
    long status = 0;
    ak_err rc;
    snprintf(base, sizeof base, "%s", ep != NULL && ep[0] != '\0' ? ep : "http://169.254.169.254");
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        base[--bl] = '\0';
    snprintf(url, sizeof url, "%s/latest/api/token", base);
    rc = http(h, a, "PUT", url, "X-aws-ec2-metadata-token-ttl-seconds: 21600", timeout_ms, &status,
              err, cap);
    if (rc == AK_OK &&
        (status != 200 || a->len == 0 || a->len >= 256 || strcspn(a->body, "\r\n ") != a->len)) {
        set_err(err, cap, "instance metadata: no IMDSv2 session token (HTTP %ld)", status);
        rc = AK_ERR_AUTH;
    }
    if (rc != AK_OK)
        return rc;
    snprintf(hdr, sizeof hdr, "X-aws-ec2-metadata-token: %.255s", a->body); /* < 256, checked */
    snprintf(url, sizeof url, "%s/latest/meta-data/iam/security-credentials/", base);
    rc = http(h, a, "GET", url, hdr, timeout_ms, &status, err, cap);
    size_t rl = a->len ? strcspn(a->body, "\r\n") : 0;
    if (rc == AK_OK &&
        (status != 200 || rl == 0 || rl >= sizeof role || strcspn(a->body, "/?#% ") < rl)) {
        set_err(err, cap, "instance metadata: no IAM role attached to this instance (HTTP %ld)",
                status);
        rc = AK_ERR_AUTH;
    }
    if (rc == AK_OK) {
        memcpy(role, a->body, rl);
        role[rl] = '\0';
        snprintf(url, sizeof url, "%s/latest/meta-data/iam/security-credentials/%s", base, role);
        rc = http(h, a, "GET", url, hdr, timeout_ms, &status, err, cap);
        if (rc == AK_OK && status != 200) {
            set_err(err, cap, "instance metadata: role credentials: HTTP %ld", status);
            rc = AK_ERR_AUTH;
        }
        if (rc == AK_OK)
            rc = parse_doc(out, a->body, "instance metadata", err, cap);
    }
    ak_wipe(hdr, sizeof hdr);
    return rc;
}

ak_err cn_awscreds_fetch(cn_awscreds *out, cn_awscreds_src src, long timeout_ms, char *err,
                         size_t err_cap)
{
    cn_rhttp_opts o = {.timeout_ms = timeout_ms, .connect_timeout_ms = timeout_ms, .pool_size = 1};
    cn_rhttp_more m = {.allow_http = 1}; /* url_allowed() says where plain http may go */
    cn_rhttp *h = NULL;
    cn_rhttp_resp a = {0};
    ak_err rc = cn_rhttp_new_ext(&h, &o, &m);
    memset(out, 0, sizeof *out);
    if (rc != AK_OK || (rc = cn_rhttp_resp_init_max(&a, ANSWER_MAX, 1)) != AK_OK)
        goto out;
    if (src == CN_AWSCREDS_CONTAINER)
        rc = fetch_container(out, h, timeout_ms, &a, err, err_cap);
    else if (src == CN_AWSCREDS_INSTANCE)
        rc = fetch_instance(out, h, timeout_ms, &a, err, err_cap);
    else {
        set_err(err, err_cap, "no credential source");
        rc = AK_ERR_CONFIG;
    }
out:
    cn_rhttp_resp_clear(&a);
    cn_rhttp_free(h);
    return rc;
}
