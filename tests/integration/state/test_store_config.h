/*
 * test_store_config.h - the "state" config parser's acceptances and refusals (each refusal
 * names the member), part of test_store.c (included once: it shares ak_test.h's counters).
 */
static ak_err parse(const char *json, char *err, size_t cap)
{
    st_cfg cfg;
    cJSON *o = cJSON_Parse(json);
    ak_err rc = st_cfg_parse(&cfg, o, err, cap);
    cJSON_Delete(o);
    return rc;
}

static void refused(const char *json, const char *needle)
{
    char err[256] = "";
    ak_err rc = parse(json, err, sizeof(err));
    CHECK_EQ_INT(rc, AK_ERR_CONFIG);
    if (strstr(err, needle) == NULL) {
        fprintf(stderr, "  %s: error \"%s\" does not name \"%s\"\n", json, err, needle);
        CHECK(0);
    }
}

static void test_config(void)
{
    st_cfg cfg;
    char err[256];
    CHECK_EQ_INT(st_cfg_parse(&cfg, NULL, err, sizeof(err)), AK_OK);
    CHECK_EQ_INT(cfg.backend, ST_MEMORY);
    CHECK_EQ_INT(cfg.nonce_trust_ms, 2000);
    CHECK_EQ_INT(parse("{\"backend\":\"memory\",\"max_entries\":10}", err, sizeof(err)), AK_OK);
    CHECK_EQ_INT(parse("{\"backend\":\"postgres\",\"url\":\"postgresql://a@/db?host=/run/pg\"}",
                       err, sizeof(err)),
                 AK_OK);
    CHECK_EQ_INT(parse("{\"backend\":\"postgres\",\"url\":\"postgresql://a@db.example:5432/x\","
                       "\"tls\":{\"mode\":\"verify-full\",\"root_cert\":\"/etc/ca.pem\"},"
                       "\"pool_size\":4,\"statement_timeout_ms\":500,\"migrate\":false}",
                       err, sizeof(err)),
                 AK_OK);
    refused("[]", "state");
    refused("{\"backend\":\"redis\"}", "state.backend");
    refused("{\"backend\":\"memory\",\"colour\":1}", "\"colour\"");
    refused("{\"backend\":\"memory\",\"url\":\"postgresql://x/y\"}", "state.url");
    refused("{\"backend\":\"memory\",\"max_entries\":0}", "state.max_entries");
    refused("{\"backend\":\"memory\",\"nonce_trust_ms\":1.5}", "state.nonce_trust_ms");
    refused("{\"backend\":\"memory\",\"backend\":\"postgres\"}", "duplicate");
    refused("{\"backend\":\"postgres\"}", "state.url");
    refused("{\"backend\":\"postgres\",\"url\":\"mysql://x/y\"}", "state.url");
    refused("{\"backend\":\"postgres\",\"url\":\"postgresql://u:secret@/d?host=/s\"}",
            "password_file");
    refused("{\"backend\":\"postgres\",\"url\":\"postgresql://u@/d?host=/s&sslmode=disable\"}",
            "sslmode");
    refused("{\"backend\":\"postgres\",\"url\":\"postgresql://u@/d?host=/s&bogus=1\"}",
            "state.url");
    refused("{\"backend\":\"postgres\",\"url\":\"postgresql://u@h:5432/d\"}", "state.tls");
    refused("{\"backend\":\"postgres\",\"url\":\"postgresql://u@h/d\",\"tls\":{}}", "root_cert");
    refused("{\"backend\":\"postgres\",\"url\":\"postgresql://u@h/d\",\"tls\":{\"mode\":\"on\"}}",
            "state.tls.mode");
    refused("{\"backend\":\"postgres\",\"url\":\"postgresql://u@h/d\",\"tls\":{\"mode\":"
            "\"disable\",\"root_cert\":\"/x\"}}",
            "contradicts");
    refused("{\"backend\":\"postgres\",\"url\":\"postgresql://u@h/d\",\"tls\":{\"mode\":"
            "\"require\",\"cert\":\"/x\"}}",
            "state.tls.key");
    refused("{\"backend\":\"postgres\",\"url\":\"postgresql://u@h/d\",\"tls\":{\"mode\":"
            "\"require\",\"ciphers\":\"x\"}}",
            "\"ciphers\"");
    refused("{\"backend\":\"postgres\",\"url\":\"postgresql://u@/d?host=/s\",\"pool_size\":0}",
            "state.pool_size");
    refused("{\"backend\":\"postgres\",\"url\":\"postgresql://u@/d?host=/s\",\"migrate\":1}",
            "state.migrate");
    refused("{\"backend\":\"postgres\",\"url\":\"postgresql://u@/d?host=/s\",\"max_entries\":5}",
            "state.max_entries");
    refused("{\"backend\":\"postgres\",\"url\":\"postgresql://u@/d?host=/s\","
            "\"password_file\":\"\"}",
            "state.password_file");
    /* password_file unreadable: refused at open, naming it */
    CHECK_EQ_INT(st_cfg_parse(&cfg, NULL, err, sizeof(err)), AK_OK);
    cfg.backend = ST_POSTGRES;
    snprintf(cfg.url, sizeof(cfg.url), "postgresql://u@/d?host=/nonexistent");
    snprintf(cfg.password_file, sizeof(cfg.password_file), "/nonexistent/pw");
    st_store *st = NULL;
    CHECK_EQ_INT(st_open(&st, &cfg, NULL, err, sizeof(err)), AK_ERR_CONFIG);
    CHECK(strstr(err, "state.password_file") != NULL);
    CHECK(st == NULL);
}
