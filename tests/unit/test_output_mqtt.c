/* MQTT uplink output, pure part: line protocol -> JSON line (format "json").
 * Points of every field type and every escape are encoded by the real
 * encoder (cg_lp_encode) and must come back as exactly the JSON a consumer
 * reads: same names, same values, same types. The .c file is included to
 * reach its static converter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "../../gateway/output_mqtt.c"

#include "lineproto.h"

static void expect_json(const struct cg_point *pt, const char *want)
{
    struct cg_buf b;
    cg_buf_init(&b, 1 << 20);
    struct cg_lp_opts o = {0};
    struct cg_lp_counters cnt = {0};
    const char *why = NULL;
    assert_int_equal(cg_lp_encode(&b, pt, &o, &cnt, &why), 0);
    char *js = NULL;
    size_t n = 0;
    int rc = lp_to_json(b.data, b.len, &js, &n);
    if (rc != 0 || strcmp(js, want) != 0) {
        fail_msg("line %s\n got  %s\n want %s", b.data, js ? js : "(error)", want);
    }
    assert_int_equal(n, strlen(want));
    free(js);
    cg_buf_done(&b);
}

static void test_types(void **state)
{
    (void)state;
    struct cg_tag tags[] = {{"site", "north gate"}, {"a,b", "x=y"}, {"path", "c:\\temp"}};
    struct cg_field f[] = {
        {.key = "t", .type = CG_FIELD_FLOAT, .v.f = 21.5},
        {.key = "big", .type = CG_FIELD_FLOAT, .v.f = 1e300},
        {.key = "n", .type = CG_FIELD_INT, .v.i = -42},
        {.key = "u", .type = CG_FIELD_UINT, .v.u = 7},
        {.key = "on", .type = CG_FIELD_BOOL, .v.b = true},
        {.key = "off", .type = CG_FIELD_BOOL, .v.b = false},
        {.key = "msg", .type = CG_FIELD_STRING, .v.s = "say \"hi\", a\\b = c"},
        {.key = "field key", .type = CG_FIELD_INT, .v.i = 1},
    };
    struct cg_point p = {"air quality", tags, 3, f, 8, 1700000000123456789};
    expect_json(&p, "{\"measurement\":\"air quality\",\"tags\":{\"a,b\":\"x=y\",\"path\":\"c:\\\\temp\","
                    "\"site\":\"north gate\"},\"fields\":{\"t\":21.5,\"big\":1e+300,\"n\":-42,\"u\":7,"
                    "\"on\":true,\"off\":false,\"msg\":\"say \\\"hi\\\", a\\\\b = c\",\"field key\":1},"
                    "\"time\":1700000000123456789}\n");
    struct cg_field one = {.key = "v", .type = CG_FIELD_FLOAT, .v.f = 0.1};
    struct cg_point q = {"m", NULL, 0, &one, 1, 5};
    expect_json(&q, "{\"measurement\":\"m\",\"tags\":{},\"fields\":{\"v\":0.1},\"time\":5}\n");
}

static void test_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {"m", "m ", "m,t v=1", "m v=", "m v=nan", "m v=1 12x", "m v=0x10", NULL};
    for (size_t i = 0; bad[i] != NULL; i++) {
        char *js = NULL;
        size_t n = 0;
        if (lp_to_json(bad[i], strlen(bad[i]), &js, &n) != -EINVAL) {
            fail_msg("'%s' accepted as %s", bad[i], js ? js : "?");
        }
        assert_null(js);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
