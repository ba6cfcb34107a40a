/* MQTT topic filters (MQTT 3.1.1/5 §4.7) and topic rules with {named} levels. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "topic.h"

#include <stdio.h>
#include <string.h>

static void test_filter_match(void **state)
{
    (void)state;
    static const struct {
        const char *filter, *topic;
        bool match;
    } tc[] = {
        {"a/b/c", "a/b/c", true},      {"a/b/c", "a/b", false},       {"a/b", "a/b/c", false},
        {"a/+/c", "a/x/c", true},      {"a/+/c", "a/x/y/c", false},   {"a/+", "a/", true},
        {"+", "a", true},              {"+", "a/b", false},           {"+/+", "/a", true},
        {"a/#", "a", true},            {"a/#", "a/b/c", true},        {"#", "a/b", true},
        {"#", "$SYS/x", false},        {"+/x", "$SYS/x", false},      {"$SYS/#", "$SYS/x", true},
        {"a/b", "A/b", false},         {"sport/tennis/+", "sport/tennis/player1", true},
        {"sport/+", "sport", false},   {"sport/#", "sport", true},    {"/+", "/x", true},
    };
    for (size_t i = 0; i < sizeof(tc) / sizeof(tc[0]); i++) {
        bool got = cg_topic_filter_match(tc[i].filter, tc[i].topic, strlen(tc[i].topic));
        if (got != tc[i].match) {
            fail_msg("filter %s topic %s: got %d", tc[i].filter, tc[i].topic, got);
        }
    }
}

static void test_filter_check(void **state)
{
    (void)state;
    const char *why;
    static const char *const good[] = {"a", "a/+/b", "#", "+", "a/#", "/", "+/+/#"};
    static const char *const bad[] = {"", "a+", "a/#/b", "a#", "#a", "a/b+/c"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_int_equal(cg_topic_filter_check(good[i], &why), 0);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why = NULL;
        if (cg_topic_filter_check(bad[i], &why) == 0) {
            fail_msg("filter '%s' accepted", bad[i]);
        }
        assert_non_null(why);
    }
    char deep[200] = "";
    for (int i = 0; i < 40; i++) {
        strcat(deep, "a/");
    }
    strcat(deep, "b");
    assert_int_equal(cg_topic_filter_check(deep, &why), -22);
}

static void test_share_split(void **state)
{
    (void)state;
    const char *g = NULL, *f = NULL, *why = NULL;
    size_t gl = 0;
    assert_int_equal(cg_topic_share_split("$share/grp/city/+/aq", &g, &gl, &f, &why), 1);
    assert_int_equal(gl, 3);
    assert_memory_equal(g, "grp", 3);
    assert_string_equal(f, "city/+/aq");
    assert_int_equal(cg_topic_share_split("city/#", &g, &gl, &f, &why), 0);
    assert_string_equal(f, "city/#");
    assert_int_equal(cg_topic_share_split("$share/grp", &g, &gl, &f, &why), -22);
    assert_int_equal(cg_topic_share_split("$share//x", &g, &gl, &f, &why), -22);
    assert_int_equal(cg_topic_share_split("$share/g+/x", &g, &gl, &f, &why), -22);
}

static void test_pattern(void **state)
{
    (void)state;
    static const struct {
        const char *pattern, *topic;
        bool match;
        const char *caps; /* "k=v;k=v;" */
    } tc[] = {
        {"city/{district}/aq/{sensor_id}", "city/north/aq/s17", true, "district=north;sensor_id=s17;"},
        {"city/{district}/aq/{sensor_id}", "city/north/aq", false, ""},
        {"city/{district}/aq/{sensor_id}", "city/north/aq/s17/x", false, ""},
        {"city/{district}/#", "city/north/traffic/lane/1", true, "district=north;"},
        {"city/{district}/#", "city/north", true, "district=north;"},
        {"city/+/{id}", "city/a/b", true, "id=b;"},
        {"{a}/x", "$SYS/x", false, ""},
        {"$SYS/{k}", "$SYS/load", true, "k=load;"},
        {"a/{b}", "a/", true, "b=;"},
        {"#", "anything/at/all", true, ""},
    };
    for (size_t i = 0; i < sizeof(tc) / sizeof(tc[0]); i++) {
        struct cg_topic_pattern p;
        const char *why = NULL;
        assert_int_equal(cg_topic_pattern_compile(&p, tc[i].pattern, &why), 0);
        struct cg_topic_capture caps[8];
        size_t n = 0;
        bool m = cg_topic_pattern_match(&p, tc[i].topic, strlen(tc[i].topic), caps, 8, &n);
        if (m != tc[i].match) {
            fail_msg("pattern %s topic %s: got %d", tc[i].pattern, tc[i].topic, m);
        }
        if (m) {
            char got[256] = "";
            for (size_t k = 0; k < n; k++) {
                size_t l = strlen(got);
                snprintf(got + l, sizeof(got) - l, "%s=%.*s;", caps[k].name, (int)caps[k].len, caps[k].value);
            }
            assert_string_equal(got, tc[i].caps);
        }
        cg_topic_pattern_done(&p);
    }
}

static void test_pattern_filter_and_errors(void **state)
{
    (void)state;
    struct cg_topic_pattern p;
    const char *why = NULL;
    assert_int_equal(cg_topic_pattern_compile(&p, "city/{district}/aq/{sensor_id}", &why), 0);
    assert_string_equal(p.filter, "city/+/aq/+");
    assert_int_equal(p.n_captures, 2);
    cg_topic_pattern_done(&p);
    cg_topic_pattern_done(&p); /* idempotent */
    static const char *const bad[] = {"", "a/{b", "a/x{b}", "a/{}", "a/{b c}", "a/#/b", "a/{x}/{x}", "a+/b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why = NULL;
        if (cg_topic_pattern_compile(&p, bad[i], &why) == 0) {
            fail_msg("pattern '%s' accepted", bad[i]);
        }
        assert_non_null(why);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filter_match), cmocka_unit_test(test_filter_check),
        cmocka_unit_test(test_share_split),  cmocka_unit_test(test_pattern),
        cmocka_unit_test(test_pattern_filter_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
