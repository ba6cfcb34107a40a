/* MQTT payload codecs: table-driven, good and bad payloads, RFC 8428 examples. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <citygate/codec.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW 1700000000000000000LL

/* Renders the batch as "m,k=v f=1.5,i=3i,b=true,s=\"x\" T;" (T "now" when the
 * reception time was used), tags in point order. */
static void render(struct cg_batch *b, char *out, size_t outsz)
{
    size_t o = 0;
    out[0] = '\0';
    cg_batch_finish(b);
    for (size_t i = 0; i < b->n_points; i++) {
        const struct cg_point *p = &b->points[i];
        o += (size_t)snprintf(out + o, outsz - o, "%s", p->measurement);
        for (size_t t = 0; t < p->n_tags; t++) {
            o += (size_t)snprintf(out + o, outsz - o, ",%s=%s", p->tags[t].key, p->tags[t].value);
        }
        for (size_t f = 0; f < p->n_fields; f++) {
            const struct cg_field *fl = &p->fields[f];
            o += (size_t)snprintf(out + o, outsz - o, "%c%s=", f ? ',' : ' ', fl->key);
            switch (fl->type) {
            case CG_FIELD_FLOAT: o += (size_t)snprintf(out + o, outsz - o, "%.15g", fl->v.f); break;
            case CG_FIELD_INT: o += (size_t)snprintf(out + o, outsz - o, "%lldi", (long long)fl->v.i); break;
            case CG_FIELD_UINT: o += (size_t)snprintf(out + o, outsz - o, "%lluu", (unsigned long long)fl->v.u); break;
            case CG_FIELD_BOOL: o += (size_t)snprintf(out + o, outsz - o, "%s", fl->v.b ? "true" : "false"); break;
            case CG_FIELD_STRING: o += (size_t)snprintf(out + o, outsz - o, "\"%s\"", fl->v.s); break;
            }
        }
        if (p->time_ns == NOW) {
            o += (size_t)snprintf(out + o, outsz - o, " now;");
        } else {
            o += (size_t)snprintf(out + o, outsz - o, " %lld;", (long long)p->time_ns);
        }
    }
}

enum codec { JSON, SENML, LP, VALUE };

struct tcase {
    const char *name;
    enum codec codec;
    const void *conf;
    const char *payload; /* NUL-terminated unless len is set */
    size_t len;
    int rc;
    const char *want; /* rendered output when rc == 0 */
};

static const struct cg_tag base_tags[] = {{.key = "district", .value = "north"}};

static void run(const struct tcase *tc, size_t n)
{
    char got[8192];
    for (size_t i = 0; i < n; i++) {
        struct cg_batch b;
        cg_batch_init(&b, 1000, 1 << 20);
        b.base_tags = base_tags;
        b.n_base_tags = 1;
        b.now_ns = NOW;
        const char *why = NULL;
        size_t len = tc[i].len ? tc[i].len : strlen(tc[i].payload);
        int rc = -1;
        switch (tc[i].codec) {
        case JSON: rc = cg_codec_json_decode(tc[i].conf, "m", tc[i].payload, len, &b, &why); break;
        case SENML: rc = cg_codec_senml_decode(tc[i].conf, "m", tc[i].payload, len, &b, &why); break;
        case LP: rc = cg_codec_lp_decode(tc[i].conf, NULL, tc[i].payload, len, &b, &why); break;
        case VALUE: rc = cg_codec_value_decode(tc[i].conf, "m", tc[i].payload, len, &b, &why); break;
        }
        if (rc != tc[i].rc) {
            fail_msg("%s: rc %d (%s), want %d", tc[i].name, rc, why ? why : "-", tc[i].rc);
        }
        if (rc < 0) {
            if (why == NULL || why[0] == '\0') {
                fail_msg("%s: error without a reason", tc[i].name);
            }
        } else {
            render(&b, got, sizeof(got));
            if (strcmp(got, tc[i].want) != 0) {
                fail_msg("%s:\n got  %s\n want %s", tc[i].name, got, tc[i].want);
            }
        }
        cg_batch_done(&b);
    }
}

/* ---- JSON ---------------------------------------------------------------- */

static const struct cg_codec_json_conf json_auto = {.time_path = "ts", .max_depth = 16};
static const struct cg_json_map aq_fields[] = {
    {.name = "pm25", .path = "pm.p25"},
    {.name = "pm10", .path = "pm.p10", .type = CG_VT_FLOAT},
    {.name = "count", .path = "n", .type = CG_VT_INT},
    {.name = "ok", .path = "ok"},
    {.name = "state", .path = "state"},
};
static const struct cg_json_map aq_tags[] = {
    {.name = "sensor", .path = "$.dev"},
    {.name = "district", .path = "d"}, /* base tag wins */
    {.name = "fw", .path = "fw"},
};
static const struct cg_codec_json_conf json_map = {
    .records = "readings", .time_path = "t", .time_format = CG_TIME_MS,
    .fields = aq_fields, .n_fields = 5, .tags = aq_tags, .n_tags = 3, .max_depth = 16};
static const struct cg_codec_json_conf json_rfc = {.time_path = "time", .time_format = CG_TIME_RFC3339, .max_depth = 16};
static const struct cg_codec_json_conf json_ns = {.time_path = "t", .time_format = CG_TIME_NS, .max_depth = 16};
static const struct cg_codec_json_conf json_us = {.time_path = "t", .time_format = CG_TIME_US, .max_depth = 16};
static const struct cg_json_map req_field[] = {{.name = "x", .path = "x", .required = true}};
static const struct cg_codec_json_conf json_req = {.fields = req_field, .n_fields = 1, .max_depth = 16};
static const struct cg_json_map uint_field[] = {{.name = "c", .path = "c", .type = CG_VT_UINT}};
static const struct cg_codec_json_conf json_uint = {.fields = uint_field, .n_fields = 1, .max_depth = 16};

static void test_json_good(void **state)
{
    (void)state;
    static const struct tcase tc[] = {
        {"flat auto", JSON, &json_auto, "{\"temp\":21.5,\"on\":true,\"label\":\"a b\",\"ts\":1700000001}", 0, 0,
         "m,district=north temp=21.5,on=true,label=\"a b\" 1700000001000000000;"},
        {"nested flattened", JSON, &json_auto, "{\"pm\":{\"p25\":3,\"p10\":{\"raw\":7}},\"arr\":[1,2],\"nul\":null}", 0, 0,
         "m,district=north pm_p25=3,pm_p10_raw=7 now;"},
        {"root array of readings", JSON, &json_auto, "[{\"a\":1,\"ts\":10},{\"a\":2,\"ts\":11}]", 0, 0,
         "m,district=north a=1 10000000000;m,district=north a=2 11000000000;"},
        {"mapped records", JSON, &json_map,
         "{\"dev\":\"s17\",\"d\":\"south\",\"readings\":[{\"t\":1700000000123,\"pm\":{\"p25\":4.5,\"p10\":\"9.25\"},"
         "\"n\":12,\"ok\":false,\"state\":\"idle\",\"fw\":2},{\"t\":1700000000124,\"pm\":{\"p25\":5}}]}", 0, 0,
         "m,district=north,sensor=s17,fw=2 pm25=4.5,pm10=9.25,count=12i,ok=false,state=\"idle\" 1700000000123000000;"
         "m,district=north,sensor=s17 pm25=5 1700000000124000000;"},
        {"rfc3339 Z", JSON, &json_rfc, "{\"v\":1,\"time\":\"2024-05-01T12:00:00Z\"}", 0, 0,
         "m,district=north v=1 1714564800000000000;"},
        {"rfc3339 offset frac", JSON, &json_rfc, "{\"v\":1,\"time\":\"2024-05-01T14:00:00.25+02:00\"}", 0, 0,
         "m,district=north v=1 1714564800250000000;"},
        {"ns exact beyond 2^53", JSON, &json_ns, "{\"v\":1,\"t\":1700000000123456789}", 0, 0,
         "m,district=north v=1 1700000000123456789;"},
        {"us", JSON, &json_us, "{\"v\":1,\"t\":1700000000123456}", 0, 0, "m,district=north v=1 1700000000123456000;"},
        {"auto ms", JSON, &json_auto, "{\"v\":1,\"ts\":1700000000123}", 0, 0, "m,district=north v=1 1700000000123000000;"},
        {"auto fractional s", JSON, &json_auto, "{\"v\":1,\"ts\":1700000000.5}", 0, 0, "m,district=north v=1 1700000000500000000;"},
        {"unicode escapes", JSON, &json_auto, "{\"s\":\"\\u00e9\\ud83d\\ude00\\n\"}", 0, 0, "m,district=north s=\"\xC3\xA9\xF0\x9F\x98\x80\n\" now;"},
        {"uint64 exact", JSON, &json_uint, "{\"c\":18446744073709551615}", 0, 0, "m,district=north c=18446744073709551615u now;"},
        {"BOM and whitespace", JSON, &json_auto, "\xEF\xBB\xBF  {\"v\": 2}\n", 0, 0, "m,district=north v=2 now;"},
    };
    run(tc, sizeof(tc) / sizeof(tc[0]));
}

static void test_json_bad(void **state)
{
    (void)state;
    static char deep[4096];
    memset(deep, '[', 2000);
    memset(deep + 2000, ']', 2000);
    static char huge_string[80000];
    huge_string[0] = '{';
    strcpy(huge_string + 1, "\"s\":\"");
    memset(huge_string + 6, 'x', 70000);
    strcpy(huge_string + 70006, "\"}");
    static const char invalid_utf8[] = "{\"s\":\"\xC3\x28\"}";
    static const char overlong[] = "{\"s\":\"\xC0\xAF\"}";
    static const char nul_in_payload[] = "{\"v\":1}\0garbage";
    struct tcase tc[] = {
        {"empty", JSON, &json_auto, "", 0, -EINVAL, NULL},
        {"truncated object", JSON, &json_auto, "{\"temp\":21.5,\"on\":", 0, -EINVAL, NULL},
        {"truncated string", JSON, &json_auto, "{\"temp\":\"abc", 0, -EINVAL, NULL},
        {"truncated number", JSON, &json_auto, "{\"temp\":-", 0, -EINVAL, NULL},
        {"trailing garbage", JSON, &json_auto, "{\"v\":1} x", 0, -EINVAL, NULL},
        {"nul then garbage", JSON, &json_auto, nul_in_payload, sizeof(nul_in_payload) - 1, -EINVAL, NULL},
        {"single quotes", JSON, &json_auto, "{'v':1}", 0, -EINVAL, NULL},
        {"leading zero", JSON, &json_auto, "{\"v\":01}", 0, -EINVAL, NULL},
        {"NaN literal", JSON, &json_auto, "{\"v\":NaN}", 0, -EDOM, NULL},
        {"-Infinity literal", JSON, &json_auto, "{\"v\":-Infinity}", 0, -EDOM, NULL},
        {"overflow to inf", JSON, &json_auto, "{\"v\":1e999}", 0, -EDOM, NULL},
        {"NaN string typed float", JSON, &json_map, "{\"readings\":[{\"pm\":{\"p10\":\"NaN\"}}]}", 0, -EDOM, NULL},
        {"non-numeric string typed float", JSON, &json_map, "{\"readings\":[{\"pm\":{\"p10\":\"12abc\"}}]}", 0, -EINVAL, NULL},
        {"int typed fraction", JSON, &json_map, "{\"readings\":[{\"n\":1.5}]}", 0, -ERANGE, NULL},
        {"uint negative", JSON, &json_uint, "{\"c\":-1}", 0, -ERANGE, NULL},
        {"deep nesting", JSON, &json_auto, deep, 4000, -EMSGSIZE, NULL},
        {"invalid utf-8", JSON, &json_auto, invalid_utf8, 0, -EILSEQ, NULL},
        {"overlong utf-8", JSON, &json_auto, overlong, 0, -EILSEQ, NULL},
        {"lone surrogate", JSON, &json_auto, "{\"s\":\"\\ud800x\"}", 0, -EILSEQ, NULL},
        {"escaped NUL", JSON, &json_auto, "{\"s\":\"a\\u0000b\"}", 0, -EILSEQ, NULL},
        {"raw control char", JSON, &json_auto, "{\"s\":\"a\tb\"}", 0, -EINVAL, NULL},
        {"string too long for a field", JSON, &json_auto, huge_string, 0, -EMSGSIZE, NULL},
        {"no fields", JSON, &json_auto, "{\"ts\":5}", 0, -ENODATA, NULL},
        {"empty array", JSON, &json_auto, "[]", 0, -ENODATA, NULL},
        {"records path missing", JSON, &json_map, "{\"x\":1}", 0, -EINVAL, NULL},
        {"reading not an object", JSON, &json_auto, "[1,2]", 0, -EINVAL, NULL},
        {"bad timestamp", JSON, &json_rfc, "{\"v\":1,\"time\":\"2024-13-01T00:00:00Z\"}", 0, -ERANGE, NULL},
        {"bad timestamp syntax", JSON, &json_rfc, "{\"v\":1,\"time\":\"yesterday\"}", 0, -EINVAL, NULL},
        {"timestamp overflow", JSON, &json_ns, "{\"v\":1,\"t\":99999999999999999999}", 0, -ERANGE, NULL},
        {"required field missing", JSON, &json_req, "{\"y\":1}", 0, -EINVAL, NULL},
        {"tag is an object", JSON, &json_map, "{\"dev\":{},\"readings\":[{\"n\":1}]}", 0, -EINVAL, NULL},
    };
    run(tc, sizeof(tc) / sizeof(tc[0]));
}

static void test_json_too_many_points(void **state)
{
    (void)state;
    struct cg_batch b;
    cg_batch_init(&b, 3, 1 << 20);
    b.now_ns = NOW;
    const char *why = NULL;
    const char *p = "[{\"a\":1},{\"a\":2},{\"a\":3},{\"a\":4}]";
    assert_int_equal(cg_codec_json_decode(&json_auto, "m", p, strlen(p), &b, &why), -EMSGSIZE);
    cg_batch_reset(&b);
    /* the batch is reusable after an error */
    p = "[{\"a\":1},{\"a\":2}]";
    assert_int_equal(cg_codec_json_decode(&json_auto, "m", p, strlen(p), &b, &why), 0);
    assert_int_equal(b.n_points, 2);
    cg_batch_done(&b);
}

static void test_arena_limit(void **state)
{
    (void)state;
    struct cg_batch b;
    cg_batch_init(&b, 100, 4096); /* decoded text bounded to 4 KiB */
    b.now_ns = NOW;
    char p[9000];
    strcpy(p, "{\"s\":\"");
    memset(p + 6, 'y', 8000);
    strcpy(p + 8006, "\"}");
    const char *why = NULL;
    assert_int_equal(cg_codec_json_decode(&json_auto, "m", p, strlen(p), &b, &why), -EMSGSIZE);
    cg_batch_done(&b);
}

/* JSON numbers: the integer fast path gives exactly strtod's value (and sign). */
static void test_json_numbers_as_strtod(void **state)
{
    (void)state;
    static const char *const lit[] = {"0", "-0", "7", "-42", "1700000000000", "999999999999999", "-999999999999999",
                                      "1000000000000000", "9007199254740993", "12345678901234567890", "1.5",
                                      "1e3", "-2.5E-3", "0.1"};
    for (size_t i = 0; i < sizeof(lit) / sizeof(lit[0]); i++) {
        struct cg_arena a;
        cg_arena_init(&a, 4096);
        const struct cg_jval *v = NULL;
        const char *why = NULL;
        assert_int_equal(cg_jdom_parse(&a, lit[i], strlen(lit[i]), 4, &v, &why), 0);
        double want = strtod(lit[i], NULL);
        if (memcmp(&v->num, &want, sizeof(want)) != 0) {
            fail_msg("%s: got %.17g, strtod %.17g", lit[i], v->num, want);
        }
        cg_arena_done(&a);
    }
}

/* ---- SenML: RFC 8428 §5.1 examples ---------------------------------------- */

static const struct cg_codec_senml_conf senml = {.name_tag = "name", .unit_tag = "unit", .max_depth = 8};

static void test_senml_rfc(void **state)
{
    (void)state;
    static const struct tcase tc[] = {
        {"5.1.1 single data point", SENML, &senml, "[{\"n\":\"urn:dev:ow:10e2073a01080063\",\"u\":\"Cel\",\"v\":23.1}]", 0, 0,
         "m,district=north,name=urn:dev:ow:10e2073a01080063,unit=Cel value=23.1 now;"},
        {"5.1.2 multiple data points", SENML, &senml,
         "[{\"bn\":\"urn:dev:ow:10e2073a01080063:\",\"n\":\"voltage\",\"u\":\"V\",\"v\":120.1},"
         "{\"n\":\"current\",\"u\":\"A\",\"v\":1.2}]", 0, 0,
         "m,district=north,name=urn:dev:ow:10e2073a01080063:voltage,unit=V value=120.1 now;"
         "m,district=north,name=urn:dev:ow:10e2073a01080063:current,unit=A value=1.2 now;"},
        {"5.1.2 base time, relative times, bver 5", SENML, &senml,
         "[{\"bn\":\"urn:dev:ow:10e2073a0108006:\",\"bt\":1.276020076001e+09,\"bu\":\"A\",\"bver\":5,"
         "\"n\":\"voltage\",\"u\":\"V\",\"v\":120.1},{\"n\":\"current\",\"t\":-5,\"v\":1.2},"
         "{\"n\":\"current\",\"t\":-4,\"v\":1.3},{\"n\":\"current\",\"t\":-3,\"v\":1.4},"
         "{\"n\":\"current\",\"t\":-2,\"v\":1.5},{\"n\":\"current\",\"t\":-1,\"v\":1.6},{\"n\":\"current\",\"v\":1.7}]",
         0, 0,
         "m,district=north,name=urn:dev:ow:10e2073a0108006:voltage,unit=V value=120.1 1276020076001000000;"
         "m,district=north,name=urn:dev:ow:10e2073a0108006:current,unit=A value=1.2 1276020071001000000;"
         "m,district=north,name=urn:dev:ow:10e2073a0108006:current,unit=A value=1.3 1276020072001000000;"
         "m,district=north,name=urn:dev:ow:10e2073a0108006:current,unit=A value=1.4 1276020073001000000;"
         "m,district=north,name=urn:dev:ow:10e2073a0108006:current,unit=A value=1.5 1276020074001000000;"
         "m,district=north,name=urn:dev:ow:10e2073a0108006:current,unit=A value=1.6 1276020075001000000;"
         "m,district=north,name=urn:dev:ow:10e2073a0108006:current,unit=A value=1.7 1276020076001000000;"},
        /* §5.1.3, checked against the RFC's own resolved form in §5.1.4 */
        {"5.1.3 multiple measurements == 5.1.4 resolved", SENML, &senml,
         "[{\"bn\":\"urn:dev:ow:10e2073a01080063\",\"bt\":1.320067464e+09,\"bu\":\"%RH\",\"v\":20},"
         "{\"u\":\"lon\",\"v\":24.30621},{\"u\":\"lat\",\"v\":60.07965},{\"t\":60,\"v\":20.3},"
         "{\"u\":\"lon\",\"t\":60,\"v\":24.30622},{\"u\":\"lat\",\"t\":60,\"v\":60.07965},{\"t\":120,\"v\":20.7},"
         "{\"u\":\"lon\",\"t\":120,\"v\":24.30623},{\"u\":\"lat\",\"t\":120,\"v\":60.07966},{\"u\":\"%EL\",\"t\":150,\"v\":98},"
         "{\"t\":180,\"v\":21.2},{\"u\":\"lon\",\"t\":180,\"v\":24.30628},{\"u\":\"lat\",\"t\":180,\"v\":60.07967}]",
         0, 0,
         "m,district=north,name=urn:dev:ow:10e2073a01080063,unit=%RH value=20 1320067464000000000;"
         "m,district=north,name=urn:dev:ow:10e2073a01080063,unit=lon value=24.30621 1320067464000000000;"
         "m,district=north,name=urn:dev:ow:10e2073a01080063,unit=lat value=60.07965 1320067464000000000;"
         "m,district=north,name=urn:dev:ow:10e2073a01080063,unit=%RH value=20.3 1320067524000000000;"
         "m,district=north,name=urn:dev:ow:10e2073a01080063,unit=lon value=24.30622 1320067524000000000;"
         "m,district=north,name=urn:dev:ow:10e2073a01080063,unit=lat value=60.07965 1320067524000000000;"
         "m,district=north,name=urn:dev:ow:10e2073a01080063,unit=%RH value=20.7 1320067584000000000;"
         "m,district=north,name=urn:dev:ow:10e2073a01080063,unit=lon value=24.30623 1320067584000000000;"
         "m,district=north,name=urn:dev:ow:10e2073a01080063,unit=lat value=60.07966 1320067584000000000;"
         "m,district=north,name=urn:dev:ow:10e2073a01080063,unit=%EL value=98 1320067614000000000;"
         "m,district=north,name=urn:dev:ow:10e2073a01080063,unit=%RH value=21.2 1320067644000000000;"
         "m,district=north,name=urn:dev:ow:10e2073a01080063,unit=lon value=24.30628 1320067644000000000;"
         "m,district=north,name=urn:dev:ow:10e2073a01080063,unit=lat value=60.07967 1320067644000000000;"},
        {"5.1.5 multiple data types", SENML, &senml,
         "[{\"bn\":\"urn:dev:ow:10e2073a01080063:\",\"n\":\"temp\",\"u\":\"Cel\",\"v\":23.1},"
         "{\"n\":\"label\",\"vs\":\"Machine Room\"},{\"n\":\"open\",\"vb\":false},{\"n\":\"nfv-reader\",\"vd\":\"aGkgCg\"}]",
         0, 0,
         "m,district=north,name=urn:dev:ow:10e2073a01080063:temp,unit=Cel value=23.1 now;"
         "m,district=north,name=urn:dev:ow:10e2073a01080063:label string_value=\"Machine Room\" now;"
         "m,district=north,name=urn:dev:ow:10e2073a01080063:open bool_value=false now;"
         "m,district=north,name=urn:dev:ow:10e2073a01080063:nfv-reader data_value=\"aGkgCg\" now;"},
        {"5.1.6 collection of resources", SENML, &senml,
         "[{\"bn\":\"2001:db8::2/\",\"bt\":1.320078429e+09,\"n\":\"temperature\",\"u\":\"Cel\",\"v\":25.2},"
         "{\"n\":\"humidity\",\"u\":\"%RH\",\"v\":30},{\"bn\":\"2001:db8::1/\",\"n\":\"temperature\",\"u\":\"Cel\",\"v\":12.3},"
         "{\"n\":\"humidity\",\"u\":\"%RH\",\"v\":67}]",
         0, 0,
         "m,district=north,name=2001:db8::2/temperature,unit=Cel value=25.2 1320078429000000000;"
         "m,district=north,name=2001:db8::2/humidity,unit=%RH value=30 1320078429000000000;"
         "m,district=north,name=2001:db8::1/temperature,unit=Cel value=12.3 1320078429000000000;"
         "m,district=north,name=2001:db8::1/humidity,unit=%RH value=67 1320078429000000000;"},
        {"5.1.7 base-only record yields nothing", SENML, &senml,
         "[{\"bn\":\"urn:dev:ow:10e2073a01080063:\"},{\"n\":\"temp\",\"u\":\"Cel\",\"v\":23.1},"
         "{\"n\":\"heat\",\"u\":\"/\",\"v\":1},{\"n\":\"fan\",\"u\":\"/\",\"v\":0}]",
         0, 0,
         "m,district=north,name=urn:dev:ow:10e2073a01080063:temp,unit=Cel value=23.1 now;"
         "m,district=north,name=urn:dev:ow:10e2073a01080063:heat,unit=/ value=1 now;"
         "m,district=north,name=urn:dev:ow:10e2073a01080063:fan,unit=/ value=0 now;"},
        {"5.1.7 future relative times", SENML, &senml,
         "[{\"bt\":1.320078429e+09,\"bu\":\"/\",\"n\":\"2001:db8::3\",\"v\":0.5},{\"n\":\"2001:db8::4\",\"v\":0.5},"
         "{\"n\":\"2001:db8::3\",\"t\":0.1,\"v\":0},{\"n\":\"2001:db8::4\",\"t\":0.1,\"v\":0}]",
         0, 0,
         "m,district=north,name=2001:db8::3,unit=/ value=0.5 1320078429000000000;"
         "m,district=north,name=2001:db8::4,unit=/ value=0.5 1320078429000000000;"
         "m,district=north,name=2001:db8::3,unit=/ value=0 1320078429100000000;"
         "m,district=north,name=2001:db8::4,unit=/ value=0 1320078429100000000;"},
        {"relative time to now", SENML, &senml, "[{\"n\":\"a\",\"t\":-2,\"v\":1}]", 0, 0,
         "m,district=north,name=a value=1 1699999998000000000;"},
        {"base value and base sum", SENML, &senml, "[{\"bn\":\"x\",\"bv\":10,\"bs\":100,\"v\":1,\"s\":5},{\"v\":2},{}]", 0, 0,
         "m,district=north,name=x value=11,sum=105 now;m,district=north,name=x value=12,sum=100 now;"
         "m,district=north,name=x value=10,sum=100 now;"},
        {"unknown labels ignored", SENML, &senml, "[{\"n\":\"a\",\"v\":1,\"foo\":{\"x\":1},\"ut\":60}]", 0, 0,
         "m,district=north,name=a value=1 now;"},
    };
    run(tc, sizeof(tc) / sizeof(tc[0]));
}

static void test_senml_bad(void **state)
{
    (void)state;
    static const struct tcase tc[] = {
        {"not an array", SENML, &senml, "{\"n\":\"a\",\"v\":1}", 0, -EINVAL, NULL},
        {"record not an object", SENML, &senml, "[1]", 0, -EINVAL, NULL},
        {"must-understand label", SENML, &senml, "[{\"n\":\"a\",\"v\":1,\"rt_\":\"x\"}]", 0, -EINVAL, NULL},
        {"newer version", SENML, &senml, "[{\"bver\":11,\"n\":\"a\",\"v\":1}]", 0, -EINVAL, NULL},
        {"mixed versions", SENML, &senml, "[{\"bver\":10,\"n\":\"a\",\"v\":1},{\"bver\":9,\"n\":\"b\",\"v\":1}]", 0, -EINVAL, NULL},
        {"two values", SENML, &senml, "[{\"n\":\"a\",\"v\":1,\"vs\":\"x\"}]", 0, -EINVAL, NULL},
        {"bad name start", SENML, &senml, "[{\"n\":\"-a\",\"v\":1}]", 0, -EINVAL, NULL},
        {"bad name char", SENML, &senml, "[{\"n\":\"a b\",\"v\":1}]", 0, -EINVAL, NULL},
        {"empty name", SENML, &senml, "[{\"v\":1}]", 0, -EINVAL, NULL},
        {"v is a string", SENML, &senml, "[{\"n\":\"a\",\"v\":\"1\"}]", 0, -EINVAL, NULL},
        {"vb is a number", SENML, &senml, "[{\"n\":\"a\",\"vb\":1}]", 0, -EINVAL, NULL},
        {"NaN", SENML, &senml, "[{\"n\":\"a\",\"v\":NaN}]", 0, -EDOM, NULL},
        {"inf by overflow", SENML, &senml, "[{\"n\":\"a\",\"v\":1e400}]", 0, -EDOM, NULL},
        {"truncated", SENML, &senml, "[{\"n\":\"a\",\"v\":1}", 0, -EINVAL, NULL},
        {"no values", SENML, &senml, "[{\"bn\":\"a\"}]", 0, -ENODATA, NULL},
        {"too deep", SENML, &senml, "[{\"n\":\"a\",\"v\":1,\"x\":[[[[[[[[[[1]]]]]]]]]]}]", 0, -EMSGSIZE, NULL},
    };
    run(tc, sizeof(tc) / sizeof(tc[0]));
}

/* ---- line protocol ------------------------------------------------------------- */

static const struct cg_codec_lp_conf lp_ns = {.precision_ns = 1};
static const struct cg_codec_lp_conf lp_ms = {.precision_ns = 1000000};

static void test_lp(void **state)
{
    (void)state;
    static const struct tcase tc[] = {
        {"simple", LP, &lp_ns, "aq,sensor=s1 pm25=4.5,n=3i,c=7u,ok=t,s=\"x y\" 1700000000000000001", 0, 0,
         "aq,district=north,sensor=s1 pm25=4.5,n=3i,c=7u,ok=true,s=\"x y\" 1700000000000000001;"},
        {"no tags no time", LP, &lp_ns, "aq v=1", 0, 0, "aq,district=north v=1 now;"},
        {"payload tag does not override topic tag", LP, &lp_ns, "aq,district=south v=1", 0, 0, "aq,district=north v=1 now;"},
        {"escapes", LP, &lp_ns, "my\\ meas,k\\=1=v\\,2 f\\ x=\"q\\\"uote\\\\\" 5", 0, 0,
         "my meas,district=north,k=1=v,2 f x=\"q\"uote\\\" 5;"},
        {"multi-line, comments, CRLF", LP, &lp_ms, "# hello\r\na v=1 1\r\n\r\nb v=false 2\n", 0, 0,
         "a,district=north v=1 1000000;b,district=north v=false 2000000;"},
        {"booleans", LP, &lp_ns, "a b1=T,b2=True,b3=FALSE,b4=f", 0, 0, "a,district=north b1=true,b2=true,b3=false,b4=false now;"},
        {"negative and exponent", LP, &lp_ns, "a x=-1.5e3,y=-5i -100", 0, 0, "a,district=north x=-1500,y=-5i -100;"},
    };
    run(tc, sizeof(tc) / sizeof(tc[0]));
}

static void test_lp_bad(void **state)
{
    (void)state;
    static const char bad_utf8[] = "a,t=\xFF v=1";
    static const char nul[] = "a v=1\0x";
    static const struct tcase tc[] = {
        {"no fields", LP, &lp_ns, "aq,sensor=s1", 0, -EINVAL, NULL},
        {"no field value", LP, &lp_ns, "aq v=", 0, -EINVAL, NULL},
        {"NaN field", LP, &lp_ns, "aq v=NaN", 0, -EDOM, NULL},
        {"inf field", LP, &lp_ns, "aq v=-Inf", 0, -EDOM, NULL},
        {"bad float", LP, &lp_ns, "aq v=1.2.3", 0, -EINVAL, NULL},
        {"bad int", LP, &lp_ns, "aq v=1.5i", 0, -EINVAL, NULL},
        {"negative uint", LP, &lp_ns, "aq v=-1u", 0, -EINVAL, NULL},
        {"int overflow", LP, &lp_ns, "aq v=99999999999999999999i", 0, -ERANGE, NULL},
        {"unterminated string", LP, &lp_ns, "aq v=\"abc", 0, -EINVAL, NULL},
        {"bad timestamp", LP, &lp_ns, "aq v=1 12:00", 0, -EINVAL, NULL},
        {"timestamp overflow", LP, &lp_ms, "aq v=1 9223372036854775807", 0, -ERANGE, NULL},
        {"trailing junk", LP, &lp_ns, "aq v=1 1 2", 0, -EINVAL, NULL},
        {"empty tag value", LP, &lp_ns, "aq,t= v=1", 0, -EINVAL, NULL},
        {"missing measurement", LP, &lp_ns, ",t=1 v=1", 0, -EINVAL, NULL},
        {"invalid utf-8", LP, &lp_ns, bad_utf8, 0, -EILSEQ, NULL},
        {"NUL byte", LP, &lp_ns, nul, sizeof(nul) - 1, -EINVAL, NULL},
        {"only comments", LP, &lp_ns, "# x\n\n", 0, -ENODATA, NULL},
        {"second line bad", LP, &lp_ns, "a v=1\nb v=x", 0, -EINVAL, NULL},
    };
    run(tc, sizeof(tc) / sizeof(tc[0]));
}

/* ---- bare values ---------------------------------------------------------------- */

static const struct cg_codec_value_conf val_auto = {.field = "value"};
static const struct cg_codec_value_conf val_int = {.field = "count", .type = CG_VT_INT};
static const struct cg_codec_value_conf val_bool = {.field = "on", .type = CG_VT_BOOL};

static void test_value(void **state)
{
    (void)state;
    static const struct tcase tc[] = {
        {"float", VALUE, &val_auto, "21.5", 0, 0, "m,district=north value=21.5 now;"},
        {"blanks and newline", VALUE, &val_auto, "  -3e2\n", 0, 0, "m,district=north value=-300 now;"},
        {"plus sign", VALUE, &val_auto, "+7", 0, 0, "m,district=north value=7 now;"},
        {"true", VALUE, &val_auto, "true", 0, 0, "m,district=north value=true now;"},
        {"FALSE", VALUE, &val_auto, "FALSE", 0, 0, "m,district=north value=false now;"},
        {"int", VALUE, &val_int, "42", 0, 0, "m,district=north count=42i now;"},
        {"bool from 1", VALUE, &val_bool, "1", 0, 0, "m,district=north on=true now;"},
        {"empty", VALUE, &val_auto, "", 0, -EINVAL, NULL},
        {"blank", VALUE, &val_auto, " \n", 0, -EINVAL, NULL},
        {"NaN", VALUE, &val_auto, "NaN", 0, -EDOM, NULL},
        {"-inf", VALUE, &val_auto, "-inf", 0, -EDOM, NULL},
        {"Infinity", VALUE, &val_auto, "Infinity", 0, -EDOM, NULL},
        {"overflow", VALUE, &val_auto, "1e999", 0, -EDOM, NULL},
        {"hex", VALUE, &val_auto, "0x10", 0, -EINVAL, NULL},
        {"with unit", VALUE, &val_auto, "21.5C", 0, -EINVAL, NULL},
        {"json", VALUE, &val_auto, "{\"v\":1}", 0, -EINVAL, NULL},
        {"int with fraction", VALUE, &val_int, "4.5", 0, -ERANGE, NULL},
        {"bool 2", VALUE, &val_bool, "2", 0, -EINVAL, NULL},
        {"binary", VALUE, &val_auto, "\x01\x02\xff", 3, -EINVAL, NULL},
    };
    run(tc, sizeof(tc) / sizeof(tc[0]));
}

static void test_rfc3339(void **state)
{
    (void)state;
    int64_t ns;
    assert_int_equal(cg_time_parse_rfc3339("1970-01-01T00:00:00Z", 20, &ns), 0);
    assert_int_equal(ns, 0);
    assert_int_equal(cg_time_parse_rfc3339("2000-02-29T23:59:59.999999999Z", 30, &ns), 0);
    assert_int_equal(ns, 951868799999999999LL);
    assert_int_equal(cg_time_parse_rfc3339("1969-12-31t23:59:59-00:30", 25, &ns), 0);
    assert_int_equal(ns, 1799000000000LL);
    assert_int_equal(cg_time_parse_rfc3339("2001-02-29T00:00:00Z", 20, &ns), -ERANGE);
    assert_int_equal(cg_time_parse_rfc3339("2001-02-28T00:00:00", 19, &ns), -EINVAL);
    assert_int_equal(cg_time_parse_rfc3339("2001-02-28T00:00:00.Z", 21, &ns), -EINVAL);
}

static void test_utf8(void **state)
{
    (void)state;
    assert_true(cg_utf8_valid("abc", 3));
    assert_true(cg_utf8_valid("\xE2\x82\xAC", 3));
    assert_true(cg_utf8_valid("\xF4\x8F\xBF\xBF", 4));
    assert_false(cg_utf8_valid("\xF4\x90\x80\x80", 4)); /* > U+10FFFF */
    assert_false(cg_utf8_valid("\xED\xA0\x80", 3));     /* surrogate */
    assert_false(cg_utf8_valid("\xE2\x82", 2));         /* truncated */
    assert_false(cg_utf8_valid("\x80", 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_good),  cmocka_unit_test(test_json_bad),
        cmocka_unit_test(test_json_too_many_points), cmocka_unit_test(test_arena_limit),
        cmocka_unit_test(test_json_numbers_as_strtod),
        cmocka_unit_test(test_senml_rfc),  cmocka_unit_test(test_senml_bad),
        cmocka_unit_test(test_lp),         cmocka_unit_test(test_lp_bad),
        cmocka_unit_test(test_value),      cmocka_unit_test(test_rfc3339),
        cmocka_unit_test(test_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
