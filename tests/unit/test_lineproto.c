/* Line protocol encoder: escaping, ordering, types, rejection. Table-driven. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "lineproto.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct enc_case {
    const char *name;
    struct cg_point p;
    const char *want; /* NULL: must be rejected */
    const char *why;  /* expected reason when rejected */
};

#define TAGS(...) (const struct cg_tag[]){__VA_ARGS__}, sizeof((const struct cg_tag[]){__VA_ARGS__}) / sizeof(struct cg_tag)
#define FIELDS(...) (const struct cg_field[]){__VA_ARGS__}, sizeof((const struct cg_field[]){__VA_ARGS__}) / sizeof(struct cg_field)

static void test_encode_table(void **state)
{
    (void)state;
    const struct enc_case cases[] = {
        {"plain", {"air", TAGS({"site", "s1"}), FIELDS(CG_FIELD_F("pm25", 12.5)), 1700000000000000000LL},
         "air,site=s1 pm25=12.5 1700000000000000000\n", NULL},
        {"tags sorted by key", {"m", TAGS({"z", "1"}, {"a", "2"}, {"m", "3"}), FIELDS(CG_FIELD_I("v", -3)), 5},
         "m,a=2,m=3,z=1 v=-3i 5\n", NULL},
        {"escape measurement", {"my meas,x=y", NULL, 0, FIELDS(CG_FIELD_B("ok", true)), 1},
         "my\\ meas\\,x=y ok=t 1\n", NULL},
        {"escape tag key/value and field key", {"m", TAGS({"k ey,=", "v a,l=ue"}), FIELDS(CG_FIELD_F("f =,", 1.0)), 1},
         "m,k\\ ey\\,\\==v\\ a\\,l\\=ue f\\ \\=\\,=1 1\n", NULL},
        {"string field quotes and backslashes", {"m", NULL, 0, FIELDS(CG_FIELD_S("s", "a \"q\" \\ b")), 1},
         "m s=\"a \\\"q\\\" \\\\ b\" 1\n", NULL},
        {"empty tag value omitted", {"m", TAGS({"a", ""}, {"b", "x"}), FIELDS(CG_FIELD_U("n", 7)), 1},
         "m,b=x n=7i 1\n", NULL},
        {"NaN skipped, others kept", {"m", NULL, 0, FIELDS(CG_FIELD_F("a", NAN), CG_FIELD_F("b", 2.25)), 1},
         "m b=2.25 1\n", NULL},
        {"negative time", {"m", NULL, 0, FIELDS(CG_FIELD_B("x", false)), -1000}, "m x=f -1000\n", NULL},
        {"integer extremes",
         {"m", NULL, 0, FIELDS(CG_FIELD_I("a", INT64_MIN), CG_FIELD_I("b", INT64_MAX), CG_FIELD_I("c", 0)), INT64_MIN},
         "m a=-9223372036854775808i,b=9223372036854775807i,c=0i -9223372036854775808\n", NULL},
        {"time zero and max", {"m", NULL, 0, FIELDS(CG_FIELD_U("u", 0), CG_FIELD_I("i", -1)), INT64_MAX},
         "m u=0i,i=-1i 9223372036854775807\n", NULL},
        {"utf-8 names", {"воздух", TAGS({"город", "Тошкент"}), FIELDS(CG_FIELD_F("pm", 0.1)), 1},
         "воздух,город=Тошкент pm=0.1 1\n", NULL},
        {"backslash inside a value is literal", {"m", TAGS({"p", "a\\b"}), FIELDS(CG_FIELD_I("v", 1)), 1},
         "m,p=a\\b v=1i 1\n", NULL},
        {"all NaN rejected", {"m", NULL, 0, FIELDS(CG_FIELD_F("a", NAN), CG_FIELD_F("b", INFINITY)), 1}, NULL,
         "no writable fields (all NaN or Inf)"},
        {"no fields", {"m", NULL, 0, NULL, 0, 1}, NULL, "no fields"},
        {"empty measurement", {"", NULL, 0, FIELDS(CG_FIELD_I("v", 1)), 1}, NULL, "empty measurement"},
        {"reserved underscore", {"_m", NULL, 0, FIELDS(CG_FIELD_I("v", 1)), 1}, NULL,
         "names starting with '_' are reserved by InfluxDB"},
        {"newline in tag value", {"m", TAGS({"a", "x\ny"}), FIELDS(CG_FIELD_I("v", 1)), 1}, NULL,
         "newline in a name or tag value"},
        {"trailing backslash", {"m", TAGS({"a", "x\\"}), FIELDS(CG_FIELD_I("v", 1)), 1}, NULL,
         "backslash at the end or before a delimiter"},
        {"backslash before comma", {"m", TAGS({"a", "x\\,y"}), FIELDS(CG_FIELD_I("v", 1)), 1}, NULL,
         "backslash at the end or before a delimiter"},
        {"newline in string field", {"m", NULL, 0, FIELDS(CG_FIELD_S("s", "a\nb")), 1}, NULL,
         "newline in a string field"},
        {"duplicate field", {"m", NULL, 0, FIELDS(CG_FIELD_I("v", 1), CG_FIELD_I("v", 2)), 1}, NULL,
         "duplicate field key"},
        {"duplicate tag", {"m", TAGS({"a", "1"}, {"a", "2"}), FIELDS(CG_FIELD_I("v", 1)), 1}, NULL,
         "duplicate tag key"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct cg_buf b;
        cg_buf_init(&b, 1 << 20);
        cg_buf_append(&b, "prefix\n", 7);
        const char *why = NULL;
        struct cg_lp_counters cnt = {0};
        int rc = cg_lp_encode(&b, &cases[i].p, NULL, &cnt, &why);
        if (cases[i].want) {
            if (rc != 0 || strcmp(b.data + 7, cases[i].want) != 0) {
                print_error("case '%s': rc=%d got [%s] want [%s] why=%s\n", cases[i].name, rc, b.data + 7,
                            cases[i].want, why ? why : "-");
                fail();
            }
            assert_int_equal(cnt.points, 1);
        } else {
            if (rc != -EINVAL || why == NULL || strcmp(why, cases[i].why) != 0) {
                print_error("case '%s': rc=%d why=[%s] want [%s]\n", cases[i].name, rc, why ? why : "-", cases[i].why);
                fail();
            }
            assert_int_equal(b.len, 7); /* nothing half-written */
            assert_int_equal(cnt.rejected, 1);
        }
        cg_buf_done(&b);
    }
}

static void test_static_tags_and_uint(void **state)
{
    (void)state;
    const struct cg_tag st[] = {{"city", "tashkent"}, {"site", "default"}, {"gateway", "gw1"}};
    struct cg_lp_opts o = {.static_tags = st, .n_static_tags = 3, .write_uint = false};
    const struct cg_tag pt[] = {{"site", "cab17"}};
    const struct cg_field f[] = {CG_FIELD_U("big", UINT64_MAX), CG_FIELD_U("small", 5)};
    struct cg_point p = {"energy", pt, 1, f, 2, 10};
    struct cg_buf b;
    cg_buf_init(&b, 4096);
    struct cg_lp_counters cnt = {0};
    assert_int_equal(cg_lp_encode(&b, &p, &o, &cnt, NULL), 0);
    /* the point's own tag wins over the static one */
    assert_string_equal(b.data, "energy,city=tashkent,gateway=gw1,site=cab17 big=9223372036854775807i,small=5i 10\n");
    assert_int_equal(cnt.uint_clipped, 1);
    cg_buf_reset(&b);
    o.write_uint = true;
    assert_int_equal(cg_lp_encode(&b, &p, &o, &cnt, NULL), 0);
    assert_string_equal(b.data, "energy,city=tashkent,gateway=gw1,site=cab17 big=18446744073709551615u,small=5u 10\n");
    cg_buf_done(&b);
}

static void test_double_round_trip(void **state)
{
    (void)state;
    const double v[] = {0.1, 1.0 / 3.0, 12.5, -0.0, 1e300, 5e-324, 123456789.123456789, 230.1, 1e21, 2.5e-7};
    char buf[32];
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        cg_lp_format_double(buf, v[i]);
        assert_true(strtod(buf, NULL) == v[i]);
    }
    const struct {
        double v;
        const char *want;
    } fixed[] = {{0.1, "0.1"}, {230.1, "230.1"}, {12.81, "12.81"}, {-3.5, "-3.5"}, {0.05, "0.05"},
                 {100, "100"}, {0, "0"}, {-0.0, "-0"}, {1e-7, "1e-07"}, {123456.789, "123456.789"},
                 {2e9, "2000000000"}, {1.0 / 3.0, "0.333333333333333"}};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        cg_lp_format_double(buf, fixed[i].v);
        if (strcmp(buf, fixed[i].want) != 0 && strtod(buf, NULL) != fixed[i].v) {
            fail_msg("%.17g -> %s", fixed[i].v, buf);
        }
    }
    cg_lp_format_double(buf, 12.81);
    assert_string_equal(buf, "12.81");
    cg_lp_format_double(buf, 0.05);
    assert_string_equal(buf, "0.05");
    /* 200k pseudo-random values of every kind sensors produce: each must read
     * back exactly; fixed-point ones must be no longer than what %.17g gives */
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double val;
        switch (i % 4) {
        case 0: val = (double)(int64_t)(x % 2000001) / 100.0 - 10000.0; break; /* 2 decimals */
        case 1: val = (double)(x % 100000000) / 1e6; break;                     /* 6 decimals */
        case 2: { double d; memcpy(&d, &x, 8); val = isfinite(d) ? d : 1.5; break; } /* any bits */
        default: val = (double)(x >> 11) / 9007199254740992.0 * 1000.0; break;   /* full precision */
        }
        char ref[40];
        cg_lp_format_double(buf, val);
        snprintf(ref, sizeof(ref), "%.17g", val);
        if (strtod(buf, NULL) != val || (strchr(buf, 'e') == NULL && strlen(buf) > strlen(ref))) {
            fail_msg("%.17g -> %s", val, buf);
        }
    }
}

static void test_buffer_limit(void **state)
{
    (void)state;
    struct cg_buf b;
    cg_buf_init(&b, 20);
    const struct cg_field f[] = {CG_FIELD_S("s", "a long string that does not fit")};
    struct cg_point p = {"m", NULL, 0, f, 1, 1};
    assert_int_equal(cg_lp_encode(&b, &p, NULL, NULL, NULL), -ENOBUFS);
    assert_int_equal(b.len, 0);
    cg_buf_done(&b);
}

/* A series key computed once gives the same line as cg_lp_encode; refusals
 * keep their reasons and counters; a keyed line that fits exactly is written. */
static void test_series_key(void **state)
{
    (void)state;
    const struct cg_tag st[] = {{"city", "tashkent"}, {"site", "default"}};
    const struct cg_lp_opts o = {.static_tags = st, .n_static_tags = 2};
    const struct cg_tag pt[] = {{"site", "cab 17"}, {"a", "1"}};
    const struct cg_field f[] = {CG_FIELD_F("v", 1.5), CG_FIELD_I("n", 3), CG_FIELD_F("x", NAN)};
    struct cg_point p = {"air quality", pt, 2, f, 3, 10};
    const char *want = "air\\ quality,a=1,city=tashkent,site=cab\\ 17 v=1.5,n=3i 10\n";
    struct cg_buf key, a, b;
    cg_buf_init(&key, 4096);
    cg_buf_init(&a, 4096);
    assert_int_equal(cg_lp_series_key(&key, &p, &o, NULL), 0);
    assert_string_equal(key.data, "air\\ quality,a=1,city=tashkent,site=cab\\ 17");
    struct cg_lp_counters cnt = {0};
    assert_int_equal(cg_lp_encode_with_key(&a, key.data, key.len, &p, &o, &cnt, NULL), 0);
    assert_string_equal(a.data, want);
    assert_int_equal(cnt.points, 1);
    assert_int_equal(cnt.fields_nonfinite, 1);
    /* exactly the room the line needs: written; one byte less: -ENOBUFS, untouched */
    size_t len = strlen(want);
    cg_buf_init(&b, len + 3);
    cg_buf_append(&b, "ab\n", 3);
    assert_int_equal(cg_lp_encode_with_key(&b, key.data, key.len, &p, &o, NULL, NULL), 0);
    assert_string_equal(b.data + 3, want);
    cg_buf_done(&b);
    cg_buf_init(&b, len + 2);
    cg_buf_append(&b, "ab\n", 3);
    assert_int_equal(cg_lp_encode_with_key(&b, key.data, key.len, &p, &o, NULL, NULL), -ENOBUFS);
    assert_int_equal(b.len, 3);
    cg_buf_done(&b);
    /* refusals: the same reasons as cg_lp_encode */
    const char *why = NULL;
    const struct cg_field nan2[] = {CG_FIELD_F("a", NAN), CG_FIELD_F("b", INFINITY)};
    struct cg_point q = {"m", NULL, 0, nan2, 2, 1};
    cg_buf_reset(&a);
    memset(&cnt, 0, sizeof(cnt));
    assert_int_equal(cg_lp_encode_with_key(&a, "m", 1, &q, NULL, &cnt, &why), -EINVAL);
    assert_string_equal(why, "no writable fields (all NaN or Inf)");
    assert_int_equal(cnt.rejected, 1);
    assert_int_equal(cnt.fields_nonfinite, 2);
    assert_int_equal(a.len, 0);
    const struct cg_tag bad[] = {{"_t", "x"}};
    struct cg_point r = {"m", bad, 1, f, 1, 1};
    cg_buf_reset(&key);
    assert_int_equal(cg_lp_series_key(&key, &r, NULL, &why), -EINVAL);
    assert_string_equal(why, "names starting with '_' are reserved by InfluxDB");
    assert_int_equal(key.len, 0);
    cg_buf_done(&key);
    cg_buf_done(&a);
}

static void test_rescale(void **state)
{
    (void)state;
    const char in[] = "m v=1 1700000000123456789\nm,t=a\\ b s=\"x y\" 1999999999\nm v=2 -1500000000\n";
    const struct {
        int64_t div;
        const char *want;
    } cases[] = {
        {1, in},
        {1000000000, "m v=1 1700000000\nm,t=a\\ b s=\"x y\" 1\nm v=2 -2\n"},
        {1000000, "m v=1 1700000000123\nm,t=a\\ b s=\"x y\" 1999\nm v=2 -1500\n"},
    };
    for (size_t i = 0; i < 3; i++) {
        struct cg_buf b;
        cg_buf_init(&b, 4096);
        assert_int_equal(cg_lp_rescale_time(&b, in, strlen(in), cases[i].div), 0);
        assert_string_equal(b.data, cases[i].want);
        cg_buf_done(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_table),     cmocka_unit_test(test_static_tags_and_uint),
        cmocka_unit_test(test_double_round_trip), cmocka_unit_test(test_buffer_limit),
        cmocka_unit_test(test_rescale),          cmocka_unit_test(test_series_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
