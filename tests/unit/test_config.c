/* Option tables: every error with its path; defaults; env; secrets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <citygate/config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct demo {
    char *host;
    int64_t port;
    double ratio;
    bool gzip;
    int mode;
    char *token;
};

static const char *const modes[] = {"fast", "safe", NULL};
static const struct cg_opt demo_opts[] = {
    {.name = "host", .type = CG_OPT_STRING, .offset = offsetof(struct demo, host), .flags = CG_OPT_REQUIRED},
    {.name = "port", .type = CG_OPT_INT, .offset = offsetof(struct demo, port), .def = "8086", .min = 1, .max = 65535},
    {.name = "ratio", .type = CG_OPT_DOUBLE, .offset = offsetof(struct demo, ratio), .def = "0.5", .min = 0, .max = 1},
    {.name = "gzip", .type = CG_OPT_BOOL, .offset = offsetof(struct demo, gzip), .def = "true"},
    {.name = "mode", .type = CG_OPT_ENUM, .offset = offsetof(struct demo, mode), .def = "safe", .choices = modes},
    {.name = "token", .type = CG_OPT_STRING, .offset = offsetof(struct demo, token), .flags = CG_OPT_SECRET},
    {.name = "sub", .type = CG_OPT_OTHER},
    CG_OPT_END,
};

static void expect_errors(const char *json, const char *const *want)
{
    cJSON *o = cJSON_Parse(json);
    assert_non_null(o);
    struct demo d = {0};
    struct cg_errs e = {0};
    int rc = cg_opt_parse(demo_opts, o, "outputs[1]", &d, &e);
    size_t n = 0;
    while (want[n]) {
        n++;
    }
    if (e.n != n) {
        for (size_t i = 0; i < e.n; i++) {
            print_error("got: %s\n", e.msg[i]);
        }
        fail_msg("json %s: %zu errors, want %zu", json, e.n, n);
    }
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(e.msg[i], want[i]);
    }
    assert_int_equal(rc, n ? -22 : 0);
    cg_errs_done(&e);
    cg_opt_free(demo_opts, &d);
    cJSON_Delete(o);
}

static void test_errors_name_the_path(void **state)
{
    (void)state;
    expect_errors("{\"host\":\"h\"}", (const char *const[]){NULL});
    expect_errors("{\"host\":\"h\",\"port\":0,\"ratio\":2,\"gzip\":1,\"mode\":\"turbo\",\"hots\":1,\"sub\":[]}",
                  (const char *const[]){
                      "outputs[1].port: must be 1..65535, got 0",
                      "outputs[1].ratio: must be 0..1, got 2",
                      "outputs[1].gzip: must be true or false",
                      "outputs[1].mode: must be one of fast, safe; got 'turbo'",
                      "outputs[1].hots: unknown key (did you mean 'host'?)",
                      NULL,
                  });
    expect_errors("{\"port\":\"8086\"}", (const char *const[]){
                                             "outputs[1].port: must be an integer",
                                             "outputs[1].host: missing (required)",
                                             NULL,
                                         });
    expect_errors("{\"host\":\"a\",\"port\":12.5,\"host\":\"b\"}", (const char *const[]){
                                                                      "outputs[1].host: duplicate key",
                                                                      "outputs[1].port: must be an integer",
                                                                      NULL,
                                                                  });
    expect_errors("[1,2]", (const char *const[]){"outputs[1]: must be an object", NULL});
}

static void test_defaults_env_and_secret_file(void **state)
{
    (void)state;
    char file[] = "/tmp/cgsecretXXXXXX";
    int fd = mkstemp(file);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "s3cr3t\n", 7), 7);
    close(fd);
    setenv("CG_TEST_HOST", "db.example", 1);
    char json[512];
    snprintf(json, sizeof(json), "{\"host\":\"${CG_TEST_HOST}:$$1\",\"token_file\":\"%s\"}", file);
    cJSON *o = cJSON_Parse(json);
    struct demo d = {0};
    struct cg_errs e = {0};
    assert_int_equal(cg_opt_parse(demo_opts, o, "x", &d, &e), 0);
    assert_string_equal(d.host, "db.example:$1");
    assert_string_equal(d.token, "s3cr3t");
    assert_int_equal(d.port, 8086);
    assert_true(d.ratio == 0.5);
    assert_true(d.gzip);
    assert_int_equal(d.mode, 1);
    cg_opt_free(demo_opts, &d);
    cJSON_Delete(o);
    unlink(file);

    /* undefined variable, missing secret file, both token and token_file */
    o = cJSON_Parse("{\"host\":\"${CG_NOPE_UNSET}\",\"token\":\"a\",\"token_file\":\"/nonexistent/x\"}");
    memset(&d, 0, sizeof(d));
    assert_int_equal(cg_opt_parse(demo_opts, o, "x", &d, &e), -22);
    assert_int_equal(e.n, 2);
    assert_string_equal(e.msg[0], "x.host: environment variable CG_NOPE_UNSET is not set");
    assert_string_equal(e.msg[1], "x.token_file: give either token or token_file, not both");
    cg_errs_done(&e);
    cg_opt_free(demo_opts, &d);
    cJSON_Delete(o);

    o = cJSON_Parse("{\"host\":\"h\",\"token_file\":\"/nonexistent/x\"}");
    memset(&d, 0, sizeof(d));
    assert_int_equal(cg_opt_parse(demo_opts, o, "x", &d, &e), -22);
    assert_string_equal(e.msg[0], "x.token_file: cannot read /nonexistent/x: No such file or directory");
    cg_errs_done(&e);
    cg_opt_free(demo_opts, &d);
    cJSON_Delete(o);
}

/* "did you mean" for any list of names: within two edits, the closest. */
static void test_closest(void **unused)
{
    (void)unused;
    const char *const fields[] = {"voltage_l1", "voltage_l2", "power_total", "frequency"};
    assert_string_equal(cg_conf_closest("voltage_1", fields, 4), "voltage_l1");
    assert_string_equal(cg_conf_closest("powr_total", fields, 4), "power_total");
    assert_string_equal(cg_conf_closest("frequncy", fields, 4), "frequency");
    assert_null(cg_conf_closest("humidity", fields, 4));
    assert_null(cg_conf_closest("frequency", fields, 0));
    assert_null(cg_conf_closest(NULL, fields, 4));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors_name_the_path),
        cmocka_unit_test(test_defaults_env_and_secret_file),
        cmocka_unit_test(test_closest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
