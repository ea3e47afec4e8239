/*
 * cn_config_profile.c - the signer side of the connector's config: named profiles
 * (development, testing, staging, production, enterprise, ...), ${VAR} substitution from the
 * environment, and the structure of "accounts" / "signer_manager" (see cn_config.h and
 * docs/signers.md). Signer objects themselves are checked by their backends' constructors.
 *
 * Limits: an expanded string is at most EXPAND_MAX bytes; JSON paths in messages are cut at
 * PATH_MAX_TXT. Values substituted from the environment end up in the cJSON tree (plain
 * memory): secrets should use the backends' *_env / *_file fields, which read into locked memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cn_config.h"

#include "ak_cfg.h"
#include "cn_policy.h"
#include "cn_signer_manager.h"

#define EXPAND_MAX   (64 * 1024)
#define PATH_MAX_TXT 160
#define NAME_MAX_VAR 128

/* ---- ${VAR} --------------------------------------------------------------------------- */

static int var_char(char c, int first)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
           (!first && c >= '0' && c <= '9');
}

/* Expand one string into *out (malloc'd, or NULL when nothing to replace). */
static ak_err expand_one(char **out, const char *in, const char *path, char *err, size_t cap)
{
    *out = NULL;
    if (strchr(in, '$') == NULL)
        return AK_OK;
    size_t len = 0, bcap = strlen(in) + 64;
    char *b = malloc(bcap);
    if (b == NULL)
        return AK_ERR_NOMEM;
    ak_err rc = AK_ERR_CONFIG;
    for (const char *p = in; *p != '\0';) {
        const char *piece = p;
        size_t plen = 1;
        char name[NAME_MAX_VAR + 1];
        if (p[0] == '$' && p[1] == '$' && p[2] == '{') { /* escape: "$${" is a literal "${" */
            piece = "${";
            plen = 2;
            p += 3;
        } else if (p[0] == '$' && p[1] == '{') {
            size_t n = 0;
            const char *q = p + 2;
            while (q[n] != '\0' && q[n] != '}' && n <= NAME_MAX_VAR)
                n++;
            if (q[n] != '}' || n == 0 || n > NAME_MAX_VAR) {
                snprintf(err, cap, "config %.*s: unterminated or empty ${...}", PATH_MAX_TXT, path);
                goto out;
            }
            memcpy(name, q, n);
            name[n] = '\0';
            for (size_t i = 0; i < n; i++) {
                if (!var_char(name[i], i == 0)) {
                    snprintf(err, cap, "config %.*s: \"${%s}\" is not a variable name",
                             PATH_MAX_TXT, path, name);
                    goto out;
                }
            }
            piece = getenv(name);
            if (piece == NULL) {
                snprintf(err, cap, "config %.*s: environment variable %s is not set", PATH_MAX_TXT,
                         path, name);
                goto out;
            }
            plen = strlen(piece);
            p = q + n + 1;
        } else {
            p++;
        }
        if (len + plen + 1 > EXPAND_MAX) {
            snprintf(err, cap, "config %.*s: longer than %d bytes after ${...} substitution",
                     PATH_MAX_TXT, path, EXPAND_MAX);
            goto out;
        }
        if (len + plen + 1 > bcap) {
            size_t nc = (len + plen + 1) * 2;
            char *nb = realloc(b, nc);
            if (nb == NULL) {
                rc = AK_ERR_NOMEM;
                goto out;
            }
            b = nb;
            bcap = nc;
        }
        memcpy(b + len, piece, plen);
        len += plen;
    }
    b[len] = '\0';
    *out = b;
    b = NULL;
    rc = AK_OK;
out:
    free(b);
    return rc;
}

static ak_err expand_tree(cJSON *node, char *path, size_t path_len, int depth, char *err,
                          size_t cap)
{
    if (depth > 64)
        return ak_cfg_fail(err, cap, "config: nested too deeply");
    if (cJSON_IsString(node)) {
        char *v = NULL;
        ak_err rc = expand_one(&v, node->valuestring, path, err, cap);
        if (rc != AK_OK || v == NULL)
            return rc;
        /* cJSON 1.7.15 has no "set string" that reallocates: swap the buffer ourselves. */
        cJSON_free(node->valuestring);
        node->valuestring = cJSON_malloc(strlen(v) + 1);
        if (node->valuestring == NULL) {
            free(v);
            node->type = cJSON_NULL;
            return AK_ERR_NOMEM;
        }
        memcpy(node->valuestring, v, strlen(v) + 1);
        free(v);
        return AK_OK;
    }
    if (!cJSON_IsArray(node) && !cJSON_IsObject(node))
        return AK_OK;
    size_t i = 0;
    cJSON *it;
    cJSON_ArrayForEach(it, node)
    {
        if (cJSON_IsObject(node))
            snprintf(path + path_len, PATH_MAX_TXT + 1 - path_len, ".%s", it->string);
        else
            snprintf(path + path_len, PATH_MAX_TXT + 1 - path_len, "[%zu]", i);
        i++;
        size_t nl = strlen(path);
        ak_err rc = expand_tree(it, path, nl, depth + 1, err, cap);
        path[path_len] = '\0';
        if (rc != AK_OK)
            return rc;
    }
    return AK_OK;
}

ak_err cn_config_expand_env(cJSON *doc, char *err, size_t err_cap)
{
    char path[PATH_MAX_TXT + 1] = "";
    return expand_tree(doc, path, 0, 0, err, err_cap);
}

/* ---- profiles ------------------------------------------------------------------------- */

ak_err cn_config_select_profile(cJSON *doc, const char *profile, char *chosen, char *err,
                                size_t err_cap)
{
    cJSON *profiles = cJSON_GetObjectItemCaseSensitive(doc, "profiles");
    const cJSON *deflt = cJSON_GetObjectItemCaseSensitive(doc, "profile");
    const char *want = profile != NULL && *profile ? profile : NULL;
    if (chosen != NULL)
        chosen[0] = '\0';
    if (profiles == NULL) {
        if (deflt != NULL)
            return ak_cfg_fail(err, err_cap,
                               "config: \"profile\" is set but there are no \"profiles\"");
        if (want != NULL)
            return ak_cfg_fail(err, err_cap, "--profile %.64s: the config has no \"profiles\"",
                               want);
        return AK_OK;
    }
    if (!cJSON_IsObject(profiles) || cJSON_GetArraySize(profiles) < 1)
        return ak_cfg_fail(err, err_cap,
                           "config: \"profiles\" must be an object of named profiles");
    if (cJSON_HasObjectItem(doc, "accounts"))
        return ak_cfg_fail(err, err_cap,
                           "config: give \"accounts\" inside each profile, not next to "
                           "\"profiles\"");
    if (deflt != NULL && !cJSON_IsString(deflt))
        return ak_cfg_fail(err, err_cap, "config: \"profile\" must be a string");
    if (want == NULL && deflt != NULL)
        want = deflt->valuestring;
    char names[256] = "";
    const cJSON *it;
    cJSON_ArrayForEach(it, profiles)
    {
        size_t l = strlen(names);
        snprintf(names + l, sizeof names - l, "%s%s", l ? ", " : "", it->string);
    }
    if (want == NULL)
        return ak_cfg_fail(err, err_cap,
                           "config has profiles (%s): choose one with --profile or "
                           "ANODE_PROFILE",
                           names);
    cJSON *p = cJSON_GetObjectItemCaseSensitive(profiles, want);
    if (p == NULL)
        return ak_cfg_fail(err, err_cap, "profile \"%.64s\" is not in the config (profiles: %s)",
                           want, names);
    if (!cJSON_IsObject(p))
        return ak_cfg_fail(err, err_cap, "profiles.%.64s must be an object", want);
    static const ak_cfg_field k_profile_fields[] = {
        AK_CFG_KNOWN("accounts"), /* required: checked by its presence below */
        AK_CFG_KNOWN("signer_manager"),
        AK_CFG_KNOWN("comment"),
    };
    char where[80];
    snprintf(where, sizeof where, "profiles.%.64s", want);
    if (ak_cfg_read(NULL, k_profile_fields, AK_CFG_COUNT(k_profile_fields), p, where, err,
                    err_cap) != AK_OK)
        return AK_ERR_CONFIG;
    if (!cJSON_HasObjectItem(p, "accounts"))
        return ak_cfg_fail(err, err_cap, "%s: missing required field \"accounts\"", where);
    if (chosen != NULL)
        snprintf(chosen, 64, "%s", want);
    cJSON *acc = cJSON_DetachItemFromObjectCaseSensitive(p, "accounts");
    cJSON *mgr = cJSON_DetachItemFromObjectCaseSensitive(p, "signer_manager");
    if (mgr != NULL)
        cJSON_DeleteItemFromObjectCaseSensitive(doc, "signer_manager");
    cJSON_DeleteItemFromObjectCaseSensitive(doc, "profiles"); /* p and want die here */
    cJSON_DeleteItemFromObjectCaseSensitive(doc, "profile");
    if (!cJSON_AddItemToObject(doc, "accounts", acc)) {
        cJSON_Delete(acc);
        cJSON_Delete(mgr);
        return AK_ERR_NOMEM;
    }
    if (mgr != NULL && !cJSON_AddItemToObject(doc, "signer_manager", mgr)) {
        cJSON_Delete(mgr);
        return AK_ERR_NOMEM;
    }
    return AK_OK;
}

/* ---- accounts ------------------------------------------------------------------------- */

static const ak_cfg_field k_manager_fields[] = {
    AK_CFG_INT("failure_threshold", 0, cn_settings, failure_threshold, 1, 1000, 3),
    AK_CFG_INT("health_interval_ms", 0, cn_settings, health_interval_ms, 10, 3600000, 30000),
};

ak_err cn_config_accounts(cn_settings *s, const cJSON *doc, char *err, size_t err_cap)
{
    const cJSON *it;
    char where[32];
    size_t i = 0;
    if (cJSON_HasObjectItem(doc, "profiles") || cJSON_HasObjectItem(doc, "profile"))
        return ak_cfg_fail(err, err_cap,
                           "config: \"profiles\" not resolved (cn_config_select_profile)");
    s->accounts = cJSON_GetObjectItemCaseSensitive(doc, "accounts");
    if (s->accounts == NULL)
        return ak_cfg_fail(err, err_cap,
                           "config: missing required field \"accounts\" (or \"profiles\")");
    if (!cJSON_IsArray(s->accounts) || cJSON_GetArraySize(s->accounts) < 1 ||
        cJSON_GetArraySize(s->accounts) > 64)
        return ak_cfg_fail(err, err_cap, "config: \"accounts\" must be an array of 1..64 accounts");
    /* An account's structure (cn_signer_manager_members) and its policy; its signers are
     * checked by their constructors. */
    cJSON_ArrayForEach(it, s->accounts)
    {
        const cJSON *cfgs[CN_MGR_MAX_BACKUPS + 1];
        size_t n = 0;
        snprintf(where, sizeof where, "accounts[%zu]", i);
        if (cn_signer_manager_members(it, where, cfgs, &n, err, err_cap) != AK_OK)
            return AK_ERR_CONFIG;
        cn_policy *pol = NULL; /* validated here, built again by cn_main for the router */
        char perr[200] = "";
        ak_err prc = cn_policy_parse(&pol, cJSON_GetObjectItemCaseSensitive(it, "policy"), perr,
                                     sizeof perr);
        cn_policy_free(pol);
        if (prc != AK_OK) {
            snprintf(err, err_cap, "config: accounts[%zu]: %s", i, perr);
            return prc;
        }
        i++;
    }
    return ak_cfg_read(s, k_manager_fields, AK_CFG_COUNT(k_manager_fields),
                       cJSON_GetObjectItemCaseSensitive(doc, "signer_manager"), "signer_manager",
                       err, err_cap);
}
