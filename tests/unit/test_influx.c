/* InfluxDB output, pure parts: status classification, backoff bounds (the
 * engine's), Retry-After is libcurl's (CURLINFO_RETRY_AFTER, influx_fault), config errors (exact path text), gzip round trip. Table-driven. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "output_influx.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

/* ---- status classification ---------------------------------------------- */

static void test_classify(void **state)
{
    static const struct {
        long status;
        enum cg_output_verdict want;
    } cases[] = {
        {200, CG_OUTPUT_OK},     {204, CG_OUTPUT_OK},      {299, CG_OUTPUT_OK},
        {413, CG_OUTPUT_SPLIT},  {400, CG_OUTPUT_REJECT},  {422, CG_OUTPUT_REJECT},
        {406, CG_OUTPUT_REJECT}, {405, CG_OUTPUT_REJECT},  {409, CG_OUTPUT_REJECT},
        {415, CG_OUTPUT_REJECT}, {499, CG_OUTPUT_REJECT},  {401, CG_OUTPUT_HOLD},
        {403, CG_OUTPUT_HOLD},   {404, CG_OUTPUT_HOLD},    {407, CG_OUTPUT_HOLD},
        {301, CG_OUTPUT_HOLD},   {307, CG_OUTPUT_HOLD},    {408, CG_OUTPUT_RETRY},
        {429, CG_OUTPUT_RETRY},  {500, CG_OUTPUT_RETRY},   {502, CG_OUTPUT_RETRY},
        {503, CG_OUTPUT_RETRY},  {504, CG_OUTPUT_RETRY},   {599, CG_OUTPUT_RETRY},
        {0, CG_OUTPUT_RETRY},    {100, CG_OUTPUT_RETRY},   {199, CG_OUTPUT_RETRY},
        {600, CG_OUTPUT_RETRY},  {-1, CG_OUTPUT_RETRY},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum cg_output_verdict got = cg_influx_classify(cases[i].status);
        if (got != cases[i].want) {
            fail_msg("status %ld: got %s, want %s", cases[i].status, cg_output_verdict_name(got),
                     cg_output_verdict_name(cases[i].want));
        }
    }
}

/* ---- backoff ------------------------------------------------------------- */

static void test_backoff_bounds(void **state)
{
    static const struct {
        int64_t initial, max;
    } cfgs[] = {{500, 60000}, {1, 1}, {100, 100}, {1000, 3600000}, {7, 13}};
    static const uint64_t rnds[] = {0, 1, 12345, 0xdeadbeefcafebabeULL, UINT64_MAX};
    for (size_t c = 0; c < sizeof(cfgs) / sizeof(cfgs[0]); c++) {
        for (unsigned a = 0; a < 80; a++) {
            int64_t ceil = cfgs[c].initial;
            for (unsigned k = 0; k < a && ceil < cfgs[c].max; k++) {
                ceil *= 2;
            }
            if (ceil > cfgs[c].max) {
                ceil = cfgs[c].max;
            }
            for (size_t r = 0; r < sizeof(rnds) / sizeof(rnds[0]); r++) {
                int64_t d = cg_output_backoff_ms(cfgs[c].initial, cfgs[c].max, a, rnds[r]);
                if (d < cfgs[c].initial || d > ceil) {
                    fail_msg("initial %lld max %lld attempt %u rnd %llu: %lld outside [%lld, %lld]",
                             (long long)cfgs[c].initial, (long long)cfgs[c].max, a,
                             (unsigned long long)rnds[r], (long long)d, (long long)cfgs[c].initial,
                             (long long)ceil);
                }
            }
            /* both ends are reachable: rnd 0 -> initial, rnd span-1 -> ceiling */
            assert_int_equal(cg_output_backoff_ms(cfgs[c].initial, cfgs[c].max, a, 0), cfgs[c].initial);
            uint64_t span = (uint64_t)(ceil - cfgs[c].initial);
            assert_int_equal(cg_output_backoff_ms(cfgs[c].initial, cfgs[c].max, a, span), ceil);
        }
    }
    /* 500 ms initial: attempt 0 <= 500, 1 <= 1000, 2 <= 2000, ..., 7 -> 60000 cap */
    assert_int_equal(cg_output_backoff_ms(500, 60000, 3, 3500), 4000);
    assert_int_equal(cg_output_backoff_ms(500, 60000, 7, UINT64_MAX - (UINT64_MAX % 59501) - 1),
                     500 + (int64_t)((UINT64_MAX - (UINT64_MAX % 59501) - 1) % 59501));
    /* the spread is wide (full jitter), not a fixed ladder */
    int64_t lo = INT64_MAX, hi = 0;
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 1000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int64_t d = cg_output_backoff_ms(500, 60000, 10, x);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    assert_true(lo < 5000);
    assert_true(hi > 55000);
}

/* ---- gzip ---------------------------------------------------------------- */

static void gunzip(const char *in, size_t len, struct cg_buf *out)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    assert_int_equal(inflateInit2(&zs, 16 + MAX_WBITS), Z_OK);
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)len;
    int zrc;
    do {
        assert_int_equal(cg_buf_reserve(out, 65536), 0);
        zs.next_out = (Bytef *)out->data + out->len;
        zs.avail_out = 65536;
        zrc = inflate(&zs, Z_NO_FLUSH);
        assert_true(zrc == Z_OK || zrc == Z_STREAM_END);
        out->len += 65536 - zs.avail_out;
    } while (zrc != Z_STREAM_END);
    assert_int_equal(zs.avail_in, 0);
    inflateEnd(&zs);
}

static void test_gzip_round_trip(void **state)
{
    static const size_t sizes[] = {0, 1, 100, 65535, 65536, 1000000, 3 * 1024 * 1024 + 17};
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        size_t n = sizes[s];
        char *in = malloc(n + 1);
        assert_non_null(in);
        uint64_t x = 0x1234567 + n;
        for (size_t i = 0; i < n; i++) {
            /* half line protocol (compressible), half noise */
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            in[i] = (i / 512) % 2 ? (char)(x >> 56) : "m,host=a v=1i 1700000000000000000\n"[i % 35];
        }
        struct cg_buf z, back;
        cg_buf_init(&z, 64 << 20);
        cg_buf_init(&back, 64 << 20);
        assert_int_equal(cg_buf_append(&z, "prefix", 6), 0); /* appends, keeps what was there */
        assert_int_equal(cg_influx_gzip(&z, in, n, 1), 0);
        assert_memory_equal(z.data, "prefix", 6);
        assert_true((unsigned char)z.data[6] == 0x1f && (unsigned char)z.data[7] == 0x8b);
        gunzip(z.data + 6, z.len - 6, &back);
        assert_int_equal(back.len, n);
        if (n > 0) {
            assert_memory_equal(back.data, in, n);
        }
        cg_buf_done(&z);
        cg_buf_done(&back);
        free(in);
    }
    /* a too-small output buffer fails cleanly and leaves it as it was */
    struct cg_buf small;
    cg_buf_init(&small, 16);
    assert_int_equal(cg_buf_append(&small, "ab", 2), 0);
    char big[4096];
    memset(big, 'x', sizeof(big));
    assert_int_equal(cg_influx_gzip(&small, big, sizeof(big), 1), -ENOBUFS);
    assert_int_equal(small.len, 2);
    cg_buf_done(&small);
}

/* ---- configuration -------------------------------------------------------- */

static char secret_path[64];

static void expect_conf(const char *json, const char *const *want)
{
    cJSON *o = cJSON_Parse(json);
    if (o == NULL) {
        fail_msg("bad test JSON: %s", json);
    }
    struct cg_errs e = {0};
    struct cg_output_conf *c = NULL;
    int rc = cg_output_conf_parse(o, "outputs[0]", &c, &e);
    size_t n = 0;
    while (want[n] != NULL) {
        n++;
    }
    bool ok = e.n == n;
    for (size_t i = 0; ok && i < n; i++) {
        ok = strcmp(e.msg[i], want[i]) == 0;
    }
    if (!ok) {
        for (size_t i = 0; i < e.n; i++) {
            print_error("got:  %s\n", e.msg[i]);
        }
        for (size_t i = 0; i < n; i++) {
            print_error("want: %s\n", want[i]);
        }
        fail_msg("config %s", json);
    }
    for (size_t i = 0; i < e.n; i++) {
        /* secrets never appear in messages */
        assert_null(strstr(e.msg[i], "s3cr3t"));
    }
    if (n == 0) {
        assert_int_equal(rc, 0);
        assert_non_null(c);
    } else {
        assert_int_equal(rc, -EINVAL);
        assert_null(c);
    }
    cg_output_conf_free(c);
    cg_errs_done(&e);
    cJSON_Delete(o);
}

#define V1 "\"type\":\"influxdb_v1\",\"url\":\"http://127.0.0.1:8086\",\"database\":\"db\""
#define V2 "\"type\":\"influxdb_v2\",\"url\":\"https://influx.example:8086/\",\"bucket\":\"b\""

static void test_conf_errors(void **state)
{
    struct {
        const char *json;
        const char *want[6];
    } cases[] = {
        {"{" V1 "}", {NULL}},
        {"{" V2 ",\"org\":\"o\",\"token\":\"s3cr3t\",\"precision\":\"s\"}", {NULL}},
        {"{" V1 ",\"name\":\"main-db.1\",\"username\":\"u\",\"password\":\"s3cr3t\",\"retention_policy\":\"rp\"}",
         {NULL}},
        {"{}", {"outputs[0].type: missing (required)"}},
        {"[]", {"outputs[0]: must be an object"}},
        {"{" V1 ",\"batch_lines\":0}", {"outputs[0].batch_lines: must be 1..1000000, got 0"}},
        {"{" V1 ",\"batch_lines\":1000001}",
         {"outputs[0].batch_lines: must be 1..1000000, got 1000001"}},
        {"{" V1 ",\"batch_lines\":\"12abc\"}", {"outputs[0].batch_lines: must be an integer"}},
        {"{" V1 ",\"batch_lines\":1.5}", {"outputs[0].batch_lines: must be an integer"}},
        {"{" V1 ",\"batch_bytes\":10}", {"outputs[0].batch_bytes: must be 1024..268435456, got 10"}},
        {"{" V1 ",\"flush_interval_ms\":0}",
         {"outputs[0].flush_interval_ms: must be 1..3600000, got 0"}},
        {"{" V1 ",\"timeout_ms\":5}", {"outputs[0].timeout_ms: must be 100..600000, got 5"}},
        {"{" V1 ",\"connect_timeout_ms\":-1}",
         {"outputs[0].connect_timeout_ms: must be 100..600000, got -1"}},
        {"{" V1 ",\"gzip\":1}", {"outputs[0].gzip: must be true or false"}},
        {"{" V1 ",\"tls_verify\":\"no\"}", {"outputs[0].tls_verify: must be true or false"}},
        {"{" V1 ",\"precision\":\"h\"}", {"outputs[0].precision: must be one of ns, us, ms, s; got 'h'"}},
        {"{\"type\":\"influxdb_v3\",\"url\":\"http://a\"}",
         {"outputs[0].type: must be one of influxdb_v1, influxdb_v2, mqtt; got 'influxdb_v3'"}},
        {"{" V1 ",\"retry_initial_ms\":0}", {"outputs[0].retry_initial_ms: must be 1..3600000, got 0"}},
        {"{" V1 ",\"retry_initial_ms\":5000,\"retry_max_ms\":1000}",
         {"outputs[0].retry_initial_ms: must not exceed retry_max_ms (1000), got 5000"}},
        {"{" V1 ",\"dead_letter_max_bytes\":-1}",
         {"outputs[0].dead_letter_max_bytes: must be 0..1099511627776, got -1"}},
        {"{" V1 ",\"bisect_max_requests\":0}", {"outputs[0].bisect_max_requests: must be 1..100000, got 0"}},
        {"{" V1 ",\"dead_letter_file\":\"\"}", {"outputs[0].dead_letter_file: must not be empty"}},
        {"{" V1 ",\"batchlines\":5}", {"outputs[0].batchlines: unknown key (did you mean 'batch_lines'?)"}},
        {"{" V1 ",\"frobnicate\":5}", {"outputs[0].frobnicate: unknown key"}},
        {"{" V1 ",\"gzip\":true,\"gzip\":false}", {"outputs[0].gzip: duplicate key"}},
        {"{" V1 ",\"name\":\"bad name\"}",
         {"outputs[0].name: must be 1..64 characters of A-Z a-z 0-9 _ . - (not starting with '.'), got 'bad name'"}},
        {"{" V1 ",\"name\":\"../x\"}",
         {"outputs[0].name: must be 1..64 characters of A-Z a-z 0-9 _ . - (not starting with '.'), got '../x'"}},
        {"{" V1 ",\"name\":\"\"}",
         {"outputs[0].name: must be 1..64 characters of A-Z a-z 0-9 _ . - (not starting with '.'), got ''"}},
        {"{\"type\":\"influxdb_v1\",\"database\":\"d\",\"url\":\"ftp://h/\"}",
         {"outputs[0].url: scheme must be http or https, got 'ftp'"}},
        {"{\"type\":\"influxdb_v1\",\"database\":\"d\",\"url\":\"not a url\"}",
         {"outputs[0].url: not a valid URL (expected http://host:port or https://host:port)"}},
        {"{\"type\":\"influxdb_v1\",\"database\":\"d\",\"url\":\"http://\"}",
         {"outputs[0].url: not a valid URL (expected http://host:port or https://host:port)"}},
        {"{\"type\":\"influxdb_v1\",\"database\":\"d\",\"url\":\"http://u:s3cr3t@h:8086\"}",
         {"outputs[0].url: must not contain credentials (use username/password or token)"}},
        {"{\"type\":\"influxdb_v1\",\"database\":\"d\",\"url\":\"http://h:8086/write?db=x\"}",
         {"outputs[0].url: must not contain a query or fragment"}},
        {"{\"type\":\"influxdb_v1\",\"database\":\"d\",\"url\":5}", {"outputs[0].url: must be a string"}},
        {"{\"type\":\"influxdb_v1\",\"url\":\"http://h\"}", {"outputs[0].database: required for type influxdb_v1"}},
        {"{\"type\":\"influxdb_v2\",\"url\":\"http://h\"}", {"outputs[0].bucket: required for type influxdb_v2"}},
        {"{\"type\":\"influxdb_v1\",\"url\":\"http://h\",\"database\":\"\"}",
         {"outputs[0].database: must not be empty"}},
        {"{" V1 ",\"bucket\":\"b\",\"token\":\"s3cr3t\"}",
         {"outputs[0].bucket: only for type influxdb_v2", "outputs[0].token: only for type influxdb_v2"}},
        {"{" V2 ",\"database\":\"d\",\"password\":\"s3cr3t\",\"username\":\"u\"}",
         {"outputs[0].database: only for type influxdb_v1", "outputs[0].username: only for type influxdb_v1",
          "outputs[0].password: only for type influxdb_v1"}},
        {"{" V1 ",\"password\":\"s3cr3t\"}", {"outputs[0].password: needs username"}},
        {"{" V1 ",\"username\":\"u\",\"password\":\"s3cr3t\",\"password_file\":\"/x\"}",
         {"outputs[0].password_file: give either password or password_file, not both"}},
        {"{" V1 ",\"ca_file\":\"/nonexistent/ca.pem\"}",
         {"outputs[0].ca_file: cannot read /nonexistent/ca.pem: No such file or directory"}},
        {"{" V1 ",\"batch_lines\":0,\"timeout_ms\":1,\"nope\":1}",
         {"outputs[0].batch_lines: must be 1..1000000, got 0", "outputs[0].timeout_ms: must be 100..600000, got 1",
          "outputs[0].nope: unknown key (did you mean 'name'?)"}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        expect_conf(cases[i].json, cases[i].want);
    }
}

static void test_conf_secret_file(void **state)
{
    char json[512];
    snprintf(json, sizeof(json), "{" V2 ",\"token_file\":\"%s\"}", secret_path);
    const char *none[] = {NULL};
    expect_conf(json, none);
    /* a secret file given for the wrong protocol: named, its content never shown */
    snprintf(json, sizeof(json), "{" V1 ",\"token_file\":\"%s\"}", secret_path);
    const char *wrong[] = {"outputs[0].token: only for type influxdb_v2", NULL};
    /* the path names the key the user meant, token (from token_file) */
    expect_conf(json, wrong);
}

static void test_conf_defaults(void **state)
{
    cJSON *o = cJSON_Parse("{" V1 "}");
    struct cg_errs e = {0};
    struct cg_output_conf *c = NULL;
    assert_int_equal(cg_output_conf_parse(o, "outputs[3]", &c, &e), 0);
    assert_string_equal(cg_output_conf_name(c), "influxdb");
    cg_output_conf_free(c);
    cg_output_conf_free(NULL);
    assert_null(cg_output_conf_name(NULL));
    cJSON_Delete(o);
    /* every option has a doc line and the table is terminated */
    size_t n = 0;
    for (const struct cg_opt *op = cg_influx_options; op->name != NULL; op++, n++) {
        assert_non_null(op->doc);
    }
    assert_true(n >= 24);
}

/* docs/outputs.md has a row for every option, with the table's default. */
static void test_docs_match_table(void **state)
{
    FILE *f = fopen(CG_SRC_DIR "/docs/outputs.md", "r");
    assert_non_null(f);
    static char doc[65536];
    size_t n = fread(doc, 1, sizeof(doc) - 1, f);
    fclose(f);
    doc[n] = '\0';
    for (const struct cg_opt *op = cg_influx_options; op->name != NULL; op++) {
        char row[256];
        if (op->def != NULL) {
            snprintf(row, sizeof(row), "\n| `%s` | `%s` |", op->name, op->def);
        } else {
            snprintf(row, sizeof(row), "\n| `%s` | ", op->name);
        }
        if (strstr(doc, row) == NULL) {
            fail_msg("docs/outputs.md has no row starting with '%s'", row + 1);
        }
    }
}

static int setup(void **state)
{
    snprintf(secret_path, sizeof(secret_path), "/tmp/cg-influx-secret.XXXXXX");
    int fd = mkstemp(secret_path);
    if (fd < 0) {
        return -1;
    }
    (void)!write(fd, "s3cr3t\n", 7);
    close(fd);
    return 0;
}

static int teardown(void **state)
{
    unlink(secret_path);
    curl_global_cleanup();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_backoff_bounds),  cmocka_unit_test(test_gzip_round_trip),
        cmocka_unit_test(test_conf_errors),     cmocka_unit_test(test_conf_secret_file),
        cmocka_unit_test(test_conf_defaults),   cmocka_unit_test(test_docs_match_table),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
