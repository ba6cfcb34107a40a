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

/* ---- beyond scalars: nested objects, maps, enums by name ---------------- */

struct inner {
    int64_t depth;
    int level;
};
struct outer {
    struct inner in;
    char *name;
};
static const char *const levels[] = {"inherit", "low", "high", NULL};
static const int level_values[] = {-1, 10, 20};
static const struct cg_opt inner_opts[] = {
    {.name = "depth", .type = CG_OPT_INT, .offset = offsetof(struct inner, depth), .def = "3", .min = 1, .max = 9},
    {.name = "level", .type = CG_OPT_ENUM, .offset = offsetof(struct inner, level), .def = "inherit",
     .choices = levels, .values = level_values},
    CG_OPT_END,
};
static const struct cg_opt outer_opts[] = {
    {.name = "in", .type = CG_OPT_OBJECT, .offset = offsetof(struct outer, in), .sub = inner_opts},
    {.name = "name", .type = CG_OPT_STRING, .offset = offsetof(struct outer, name), .def = "x"},
    {.name = "limits", .type = CG_OPT_MAP, .elem = CG_OPT_INT, .min = 0, .max = 100, .max_items = 3},
    CG_OPT_END,
};

static void test_nested_object_and_enum_values(void **unused)
{
    (void)unused;
    struct outer o = {0};
    struct cg_errs e = {0};
    /* absent: the nested table's defaults, the enum's table value */
    assert_int_equal(cg_opt_parse(outer_opts, NULL, "s", &o, &e), 0);
    assert_int_equal(o.in.depth, 3);
    assert_int_equal(o.in.level, -1);
    cg_opt_free(outer_opts, &o);
    cJSON *j = cJSON_Parse("{\"in\": {\"depth\": 5, \"level\": \"high\"}}");
    assert_int_equal(cg_opt_parse(outer_opts, j, "s", &o, &e), 0);
    assert_int_equal(o.in.depth, 5);
    assert_int_equal(o.in.level, 20);
    cg_opt_free(outer_opts, &o);
    cJSON_Delete(j);
    j = cJSON_Parse("{\"in\": {\"depth\": 0, \"levl\": 1, \"level\": \"hgih\"}}");
    assert_int_equal(cg_opt_parse(outer_opts, j, "s", &o, &e), -22);
    assert_int_equal(e.n, 3);
    assert_string_equal(e.msg[0], "s.in.depth: must be 1..9, got 0");
    assert_string_equal(e.msg[1], "s.in.levl: unknown key (did you mean 'level'?)");
    assert_string_equal(e.msg[2], "s.in.level: must be one of inherit, low, high; got 'hgih' (did you mean 'high'?)");
    cg_errs_done(&e);
    cg_opt_free(outer_opts, &o);
    cJSON_Delete(j);
}

struct seen {
    char keys[8][16];
    double nums[8];
    size_t n;
};

static int collect(void *ctx, const struct cg_map_item *it, struct cg_errs *errs)
{
    struct seen *s = ctx;
    (void)errs;
    snprintf(s->keys[s->n], sizeof(s->keys[0]), "%s", it->key);
    s->nums[s->n++] = it->num;
    return 0;
}

static void test_map_parser(void **unused)
{
    (void)unused;
    const struct cg_opt *m = cg_opt_find(outer_opts, "limits");
    assert_non_null(m);
    struct seen s = {0};
    struct cg_errs e = {0};
    cJSON *j = cJSON_Parse("{\"a\": 1, \"b\": 100}");
    assert_int_equal(cg_opt_parse_map(m, j, "s.limits", collect, &s, &e), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.keys[1], "b");
    assert_true(s.nums[1] == 100);
    cJSON_Delete(j);
    /* every value checked, each error with its path; good entries still seen */
    memset(&s, 0, sizeof(s));
    j = cJSON_Parse("{\"a\": \"1\", \"b\": 101, \"\": 2}");
    assert_int_equal(cg_opt_parse_map(m, j, "s.limits", collect, &s, &e), -22);
    assert_int_equal(s.n, 0);
    assert_int_equal(e.n, 3);
    assert_string_equal(e.msg[0], "s.limits.a: must be an integer");
    assert_string_equal(e.msg[1], "s.limits.b: must be 0..100, got 101");
    assert_string_equal(e.msg[2], "s.limits.: empty key");
    cg_errs_done(&e);
    cJSON_Delete(j);
    j = cJSON_Parse("{\"a\": 1, \"b\": 2, \"c\": 3, \"d\": 4}");
    assert_int_equal(cg_opt_parse_map(m, j, "s.limits", collect, &s, &e), -22);
    assert_string_equal(e.msg[0], "s.limits: at most 3 entries, got 4");
    cg_errs_done(&e);
    cJSON_Delete(j);
    j = cJSON_Parse("{\"a\": 1, \"a\": 2}");
    assert_int_equal(cg_opt_parse_map(m, j, "s.limits", collect, &s, &e), -22);
    assert_string_equal(e.msg[0], "s.limits.a: duplicate key");
    cg_errs_done(&e);
    cJSON_Delete(j);
    j = cJSON_Parse("[1]");
    assert_int_equal(cg_opt_parse_map(m, j, "s.limits", collect, &s, &e), -22);
    assert_string_equal(e.msg[0], "s.limits: must be an object");
    cg_errs_done(&e);
    cJSON_Delete(j);
    /* strings: ${ENV} expanded; null only where the table allows it */
    static const struct cg_opt names = {.name = "n", .type = CG_OPT_MAP, .elem = CG_OPT_STRING,
                                        .flags = CG_OPT_NULLABLE};
    setenv("CG_TEST_MAP", "town", 1);
    j = cJSON_Parse("{\"city\": \"${CG_TEST_MAP}\", \"gateway\": null, \"x\": 5}");
    assert_int_equal(cg_opt_parse_map(&names, j, "t", collect, &s, &e), -22);
    assert_int_equal(e.n, 1);
    assert_string_equal(e.msg[0], "t.x: must be a string or null");
    cg_errs_done(&e);
    cJSON_Delete(j);
}

static int expect_town(void *ctx, const struct cg_map_item *it, struct cg_errs *errs)
{
    (void)ctx;
    (void)errs;
    if (strcmp(it->key, "city") == 0) {
        assert_string_equal(it->str, "town");
    } else {
        assert_null(it->str);
    }
    return 0;
}

static void test_map_strings(void **unused)
{
    (void)unused;
    static const struct cg_opt names = {.name = "n", .type = CG_OPT_MAP, .elem = CG_OPT_STRING,
                                        .flags = CG_OPT_NULLABLE};
    struct cg_errs e = {0};
    setenv("CG_TEST_MAP", "town", 1);
    cJSON *j = cJSON_Parse("{\"city\": \"${CG_TEST_MAP}\", \"gateway\": null}");
    assert_int_equal(cg_opt_parse_map(&names, j, "t", expect_town, NULL, &e), 0);
    assert_int_equal(e.n, 0);
    cJSON_Delete(j);
}

static void test_schema_of_a_table(void **unused)
{
    (void)unused;
    cJSON *s = cJSON_CreateObject();
    assert_int_equal(cg_opt_schema(demo_opts, s), 0);
    char *t = cJSON_PrintUnformatted(s);
    /* required, bounds, enum names, secret's _file form and "not both" */
    assert_non_null(strstr(t, "\"required\":[\"host\"]"));
    assert_non_null(strstr(t, "\"port\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":65535,\"default\":8086}"));
    assert_non_null(strstr(t, "\"mode\":{\"type\":\"string\",\"enum\":[\"fast\",\"safe\"],\"default\":\"safe\"}"));
    assert_non_null(strstr(t, "\"token_file\":{"));
    assert_non_null(strstr(t, "{\"not\":{\"required\":[\"token\",\"token_file\"]}}"));
    assert_non_null(strstr(t, "\"additionalProperties\":false"));
    free(t);
    cJSON_Delete(s);
    s = cJSON_CreateObject();
    assert_int_equal(cg_opt_schema(outer_opts, s), 0);
    t = cJSON_PrintUnformatted(s);
    assert_non_null(strstr(t, "\"limits\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"integer\","
                              "\"minimum\":0,\"maximum\":100},\"propertyNames\":{\"minLength\":1},\"maxProperties\":3}"));
    assert_non_null(strstr(t, "\"in\":{\"type\":\"object\",\"properties\":{\"depth\":"));
    free(t);
    cJSON_Delete(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors_name_the_path),
        cmocka_unit_test(test_defaults_env_and_secret_file),
        cmocka_unit_test(test_closest),
        cmocka_unit_test(test_nested_object_and_enum_values),
        cmocka_unit_test(test_map_parser),
        cmocka_unit_test(test_map_strings),
        cmocka_unit_test(test_schema_of_a_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
