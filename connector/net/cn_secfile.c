/* cn_secfile.c - ownership and mode of secret files (see cn_secfile.h). */
#include "cn_secfile.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cn_log.h"

static atomic_int g_allow_insecure;

void cn_secret_files_allow_insecure(int allow)
{
    atomic_store(&g_allow_insecure, allow != 0);
}

ak_err cn_secret_file_check(const char *path, char *err, size_t err_cap)
{
    struct stat st;
    const char *why = NULL;
    if (stat(path, &st) != 0)
        return AK_OK;
    if (!S_ISREG(st.st_mode))
        why = "is not a regular file";
    else if (st.st_uid != geteuid())
        why = "is not owned by the daemon's user";
    else if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
        why = "is readable or writable by group or others (chmod 600)";
    if (why == NULL)
        return AK_OK;
    const char *env = getenv("ANODE_ALLOW_INSECURE_SECRET_FILES");
    if (atomic_load(&g_allow_insecure) || (env != NULL && strcmp(env, "1") == 0)) {
        cn_log(CN_LOG_WARN, "secret file permissions not enforced (allow_insecure_secret_files)",
               "file", path, "problem", why, (char *)NULL);
        return AK_OK;
    }
    if (err != NULL && err_cap > 0)
        snprintf(err, err_cap,
                 "secret file %.300s %s; refused (allow_insecure_secret_files overrides it, for "
                 "containers)",
                 path, why);
    return AK_ERR_CONFIG;
}
