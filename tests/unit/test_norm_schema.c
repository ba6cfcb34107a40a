/* City schema: the shipped file loads, the built-in copy is the same, bad
 * schemas give errors with their JSON path, docs/schema.md is in sync.
 *
 * To regenerate docs/schema.md after editing config/schema.json:
 *   CG_WRITE_DOCS=1 build/tests/test_norm_schema */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "schema.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHEMA_FILE CG_SRC_DIR "/config/schema.json"
#define DOC_FILE CG_SRC_DIR "/docs/schema.md"
#define BEGIN_MARK "<!-- BEGIN GENERATED from config/schema.json by test_norm_schema -->\n"
#define END_MARK "<!-- END GENERATED -->\n"

static void test_shipped_schema(void **state)
{
    (void)state;
    struct cg_errs errs = {0};
    struct cg_schema *s = NULL, *b = NULL;
    int rc = cg_schema_load(SCHEMA_FILE, &s, &errs);
    for (size_t i = 0; i < errs.n; i++) {
        fprintf(stderr, "%s\n", errs.msg[i]);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(cg_schema_load_builtin(&b, &errs), 0);
    assert_int_equal(s->n_meas, b->n_meas);

    static const char *const want[] = {"traffic", "air_quality", "weather", "energy", "water", "gas", "noise",
                                       "citygate_device", "citygate_gap", "citygate_clock", "citygate",
                                       "citygate_norm"};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const struct cg_schema_meas *m = cg_schema_measurement(s, want[i]);
        if (m == NULL) {
            fail_msg("measurement %s missing", want[i]);
        }
        assert_int_equal(m->n_fields, cg_schema_measurement(b, want[i])->n_fields);
    }
    static const char *const tags[] = {"city", "district", "site", "sensor_id", "sensor_kind", "vendor",
                                       "model", "lane", "direction", "gateway", "quality"};
    for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
        assert_true(cg_schema_tag_known(s, tags[i]));
    }
    /* spot checks of canonical choices documented in docs/schema.md */
    const struct cg_schema_meas *aq = cg_schema_measurement(s, "air_quality");
    const struct cg_schema_field *f = cg_schema_field(aq, "pm25"); /* FIWARE alias */
    assert_non_null(f);
    assert_string_equal(f->name, "pm2_5");
    assert_string_equal(cg_schema_field(aq, "co")->unit, "mg/m3");
    assert_string_equal(cg_schema_field(aq, "no2")->unit, "ug/m3");
    assert_true(cg_schema_field(aq, "no2")->molar_mass_g_mol > 46 && cg_schema_field(aq, "no2")->molar_mass_g_mol < 46.1);
    assert_string_equal(cg_schema_field(aq, "relativeHumidity")->name, "humidity");
    const struct cg_schema_meas *tr = cg_schema_measurement(s, "traffic");
    assert_string_equal(cg_schema_field(tr, "intensity")->name, "vehicles");
    assert_int_equal(cg_schema_field(tr, "vehicles")->type, CG_FIELD_INT);
    assert_true(cg_schema_field(tr, "device_id")->private_data);
    assert_string_equal(cg_schema_field(cg_schema_measurement(s, "water"), "pressure")->unit, "bar");
    assert_string_equal(cg_schema_field(cg_schema_measurement(s, "energy"), "power_total")->unit, "kW");
    assert_null(cg_schema_field(aq, "nonsense"));
    cg_schema_free(s);
    cg_schema_free(b);
    cg_errs_done(&errs);
}

struct bad_case {
    const char *json;
    const char *err; /* expected substring of one error */
};

#define HEAD "{\"schema_version\": 1, \"tags\": {\"city\": \"x\"}, \"measurements\": "
static const struct bad_case bad[] = {
    {"{", "t.json: not valid JSON"},
    {"[]", "t.json: must be an object"},
    {"{\"schema_version\": 2, \"tags\": {}, \"measurements\": {}}", "t.json.schema_version: must be 1..1, got 2"},
    {"{\"tags\": {}, \"measurements\": {}}", "t.json.schema_version: missing (required)"},
    {HEAD "{}, \"extra\": 1}", "t.json.extra: unknown key"},
    {HEAD "{\"m\": {\"description\": \"d\"}}}", "t.json.measurements.m.fields: missing (required)"},
    {HEAD "{\"m\": {\"description\": \"d\", \"fields\": {\"f\": {\"kind\": \"warmth\", \"unit\": \"x\", "
          "\"description\": \"d\"}}}}}",
     "t.json.measurements.m.fields.f.kind: unknown kind 'warmth'"},
    {HEAD "{\"m\": {\"description\": \"d\", \"fields\": {\"f\": {\"kind\": \"temperature\", \"unit\": \"degR\", "
          "\"description\": \"d\"}}}}}",
     "t.json.measurements.m.fields.f.unit: 'degR' is not a temperature unit (known: degC"},
    {HEAD "{\"m\": {\"description\": \"d\", \"fields\": {\"f\": {\"kind\": \"temperature\", \"unit\": \"degC\", "
          "\"description\": \"d\", \"range\": [10, 5]}}}}}",
     "t.json.measurements.m.fields.f.range: must be [min, max] with min <= max"},
    {HEAD "{\"m\": {\"description\": \"d\", \"fields\": {\"f\": {\"kind\": \"temperature\", \"unit\": \"degC\", "
          "\"description\": \"d\", \"range\": [-300, 5], \"limits\": [-273.15, 100]}}}}}",
     "t.json.measurements.m.fields.f.limits: the range must lie within the limits"},
    {HEAD "{\"m\": {\"description\": \"d\", \"fields\": {\"f\": {\"kind\": \"temperature\", \"unit\": \"degC\", "
          "\"description\": \"d\", \"type\": \"double\"}}}}}",
     "t.json.measurements.m.fields.f.type: must be one of float, int, uint, bool, string; got 'double'"},
    {HEAD "{\"m\": {\"description\": \"d\", \"fields\": {\"f\": {\"kind\": \"temperature\", \"unit\": \"degC\", "
          "\"description\": \"d\", \"unti\": \"K\"}}}}}",
     "t.json.measurements.m.fields.f.unti: unknown key (did you mean 'unit'?)"},
    {HEAD "{\"m\": {\"description\": \"d\", \"fields\": {\"f\": {\"kind\": \"temperature\", \"unit\": \"degC\", "
          "\"description\": \"d\", \"aliases\": [\"g\"]}, \"g\": {\"kind\": \"temperature\", \"unit\": \"degC\", "
          "\"description\": \"d\"}}}}}",
     "t.json.measurements.m.fields: alias 'g' of 'f' is also a field name"},
    {HEAD "{\"m\": {\"description\": \"d\", \"fields\": {\"f\": {\"kind\": \"flag\", \"unit\": \"1\", "
          "\"type\": \"bool\", \"description\": \"d\", \"range\": [0, 1]}}}}}",
     "t.json.measurements.m.fields.f: range, limits and max_step only apply to numbers"},
    {HEAD "{\"m\": {\"description\": \"d\", \"fields\": {\"f\": {\"kind\": \"temperature\", \"unit\": \"degC\", "
          "\"description\": \"d\"}, \"f\": {\"kind\": \"temperature\", \"unit\": \"degC\", \"description\": \"d\"}}}}}",
     "t.json.measurements.m.fields.f: duplicate key"},
    {HEAD "{\"bad name\": {\"description\": \"d\", \"fields\": {}}}}",
     "t.json.measurements.bad name: not a valid measurement name"},
};

static void test_bad_schemas(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct cg_errs errs = {0};
        struct cg_schema *s = NULL;
        int rc = cg_schema_parse(bad[i].json, strlen(bad[i].json), "t.json", &s, &errs);
        bool found = false;
        for (size_t k = 0; k < errs.n; k++) {
            found = found || strstr(errs.msg[k], bad[i].err) != NULL;
        }
        if (rc != -EINVAL || s != NULL || !found) {
            for (size_t k = 0; k < errs.n; k++) {
                fprintf(stderr, "  got: %s\n", errs.msg[k]);
            }
            fail_msg("case %zu: rc %d, want an error containing '%s'", i, rc, bad[i].err);
        }
        cg_errs_done(&errs);
    }
}

static void test_missing_file(void **state)
{
    (void)state;
    struct cg_errs errs = {0};
    struct cg_schema *s = NULL;
    assert_int_equal(cg_schema_load("/nonexistent/schema.json", &s, &errs), -ENOENT);
    assert_int_equal(cg_errs_count(&errs), 0); /* callers try the next place */
    assert_null(s);
}

static char *slurp(const char *file, size_t *len)
{
    FILE *f = fopen(file, "rb");
    if (f == NULL) {
        return NULL;
    }
    char *buf = malloc(1 << 20);
    *len = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (buf) {
        buf[*len] = '\0';
    }
    return buf;
}

static void test_docs_in_sync(void **state)
{
    (void)state;
    struct cg_errs errs = {0};
    struct cg_schema *s = NULL;
    struct cg_buf b;
    size_t len = 0;
    assert_int_equal(cg_schema_load(SCHEMA_FILE, &s, &errs), 0);
    cg_buf_init(&b, 1 << 20);
    assert_int_equal(cg_schema_render_md(s, &b), 0);
    char *doc = slurp(DOC_FILE, &len);
    assert_non_null(doc);
    char *begin = strstr(doc, BEGIN_MARK);
    char *end = begin ? strstr(begin, END_MARK) : NULL;
    assert_non_null(begin);
    assert_non_null(end);
    begin += strlen(BEGIN_MARK);
    size_t have = (size_t)(end - begin);
    bool same = have == b.len + 1 && memcmp(begin, b.data, b.len) == 0 && begin[b.len] == '\n';
    if (!same && getenv("CG_WRITE_DOCS")) {
        FILE *f = fopen(DOC_FILE, "wb");
        assert_non_null(f);
        fwrite(doc, 1, (size_t)(begin - doc), f);
        fwrite(b.data, 1, b.len, f);
        fputc('\n', f);
        fwrite(end, 1, strlen(end), f);
        fclose(f);
        same = true;
        fprintf(stderr, "rewrote %s\n", DOC_FILE);
    }
    if (!same) {
        fail_msg("docs/schema.md is out of date with config/schema.json: run CG_WRITE_DOCS=1 test_norm_schema");
    }
    free(doc);
    cg_buf_done(&b);
    cg_schema_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped_schema),
        cmocka_unit_test(test_bad_schemas),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_docs_in_sync),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
