/* The normaliser, feature by feature, with an injected clock (now_ns passed in,
 * clock probe replaced): rename/map, units, types, unknown names, quality,
 * stuck/jump, time policy, unsynchronised clock, cardinality budget, privacy,
 * deadband/heartbeat, windows, gaps, config errors, threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "normalise.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHEMA CG_SRC_DIR "/config/schema.json"
#define S_NS 1000000000LL
#define T0 (1700006400LL * S_NS) /* 2023-11-15T00:00:00Z: a whole day, so windows and salt periods align */

static int fake_synced = 1;
static int fake_clock(void *ctx, struct cg_norm_clock *out)
{
    (void)ctx;
    out->synced = fake_synced;
    out->maxerror_us = fake_synced ? 1000 : 16000000;
    out->esterror_us = fake_synced ? 10 : 16000000;
    return fake_synced;
}

/* Parses a conf; the schema file is the source tree's unless the JSON names one. */
static struct cg_norm_conf *conf_from(const char *json)
{
    struct cg_errs errs = {0};
    struct cg_norm_conf *c = NULL;
    cJSON *o = cJSON_Parse(json ? json : "{}");
    assert_non_null(o);
    if (!cJSON_GetObjectItem(o, "schema_file")) {
        cJSON_AddStringToObject(o, "schema_file", SCHEMA);
    }
    int rc = cg_norm_conf_parse(o, "normalise", NULL, &c, &errs);
    for (size_t i = 0; i < errs.n; i++) {
        fprintf(stderr, "conf: %s\n", errs.msg[i]);
    }
    assert_int_equal(rc, 0);
    cg_norm_conf_set_clock_probe(c, fake_clock, NULL);
    cJSON_Delete(o);
    cg_errs_done(&errs);
    return c;
}

static struct cg_norm_source *src_from(const struct cg_norm_conf *c, const char *json)
{
    struct cg_errs errs = {0};
    struct cg_norm_source *s = NULL;
    cJSON *o = json ? cJSON_Parse(json) : NULL;
    assert_true(json == NULL || o != NULL);
    int rc = cg_norm_source_parse(c, o, "sources[0].normalise", "src", &s, &errs);
    for (size_t i = 0; i < errs.n; i++) {
        fprintf(stderr, "source: %s\n", errs.msg[i]);
    }
    assert_int_equal(rc, 0);
    cJSON_Delete(o);
    cg_errs_done(&errs);
    return s;
}

/* "m,k=v,k=v f=1.5,i=3i,b=true,s=\"x\" T" per point, joined by " | ";
 * T is the time in seconds relative to T0. */
static void render(const struct cg_point *p, int n, char *out, size_t outsz)
{
    size_t o = 0;
    out[0] = '\0';
    for (int k = 0; k < n; k++, p++) {
        o += (size_t)snprintf(out + o, outsz - o, "%s%s", k ? " | " : "", p->measurement);
        for (size_t t = 0; t < p->n_tags; t++) {
            o += (size_t)snprintf(out + o, outsz - o, ",%s=%s", p->tags[t].key, p->tags[t].value);
        }
        for (size_t f = 0; f < p->n_fields; f++) {
            const struct cg_field *fl = &p->fields[f];
            o += (size_t)snprintf(out + o, outsz - o, "%c%s=", f ? ',' : ' ', fl->key);
            switch (fl->type) {
            case CG_FIELD_FLOAT: o += (size_t)snprintf(out + o, outsz - o, "%.10g", fl->v.f); break;
            case CG_FIELD_INT: o += (size_t)snprintf(out + o, outsz - o, "%lldi", (long long)fl->v.i); break;
            case CG_FIELD_UINT: o += (size_t)snprintf(out + o, outsz - o, "%lluu", (unsigned long long)fl->v.u); break;
            case CG_FIELD_BOOL: o += (size_t)snprintf(out + o, outsz - o, "%s", fl->v.b ? "true" : "false"); break;
            case CG_FIELD_STRING: o += (size_t)snprintf(out + o, outsz - o, "\"%s\"", fl->v.s); break;
            }
        }
        o += (size_t)snprintf(out + o, outsz - o, " %lld", (long long)((p->time_ns - T0) / S_NS));
    }
}

struct env {
    struct cg_norm_conf *c;
    struct cg_norm_source *s;
    struct cg_norm *n;
    struct cg_norm_scratch scratch;
    struct cg_point out[CG_NORM_OUT_MAX];
    char text[4096];
    const char *why;
};

static struct env *env_new(const char *conf, const char *src)
{
    struct env *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    e->c = conf_from(conf);
    e->s = src_from(e->c, src);
    e->n = cg_norm_new(e->c);
    assert_non_null(e->n);
    return e;
}

static void env_free(struct env *e)
{
    cg_norm_free(e->n);
    cg_norm_source_free(e->s);
    cg_norm_conf_free(e->c);
    free(e);
}

/* Runs one point at time T0 + t_s (gateway clock T0 + now_s) and renders it. */
static const char *run(struct env *e, const struct cg_point *p, int64_t now_s)
{
    int rc = cg_norm_point(e->n, e->s, p, T0 + now_s * S_NS, &e->scratch, e->out, &e->why);
    assert_true(rc >= 0);
    if (rc == 0) {
        snprintf(e->text, sizeof(e->text), "DROP: %s", e->why ? e->why : "?");
    } else {
        render(e->out, rc, e->text, sizeof(e->text));
    }
    return e->text;
}

#define POINT(m, tg, fl, t_s)                                                                                          \
    ((struct cg_point){.measurement = (m), .tags = (tg), .n_tags = sizeof(tg) / sizeof((tg)[0]), .fields = (fl),        \
                       .n_fields = sizeof(fl) / sizeof((fl)[0]), .time_ns = T0 + (int64_t)(t_s) * S_NS})

static struct cg_field with_unit(struct cg_field f, const char *unit)
{
    f.unit = unit;
    return f;
}

/* ---- rename, units, types: two vendors end up identical ------------------- */

static void test_two_vendors_identical(void **state)
{
    (void)state;
    /* vendor A (Modbus profile): schema names, units from the profile */
    struct env *a = env_new(NULL, "{\"tags\": {\"station\": \"sensor_id\"}}");
    struct cg_tag ta[] = {{"station", "aq-7"}, {"district", "north"}};
    struct cg_field fa[] = {with_unit(CG_FIELD_F("pm2_5", 12.5), "ug/m3"),
                            with_unit(CG_FIELD_I("no2", 20), "ppb"),
                            with_unit(CG_FIELD_F("temperature", 68), "degF"),
                            with_unit(CG_FIELD_F("humidity", 55), "%RH"),
                            with_unit(CG_FIELD_F("co", 1), "ppm")};
    struct cg_point pa = POINT("air_quality", ta, fa, 0);
    /* vendor B (MQTT JSON): FIWARE names, its own measurement and units, declared in config */
    struct env *b = env_new(NULL, "{\"measurements\": {\"AirQualityObserved\": \"air_quality\"},"
                                  " \"rename\": {\"PM2.5\": \"pm2_5\", \"NO2\": \"no2\", \"carbonMonoxide\": \"co\"},"
                                  " \"units\": {\"no2\": \"ug/m3\", \"humidity\": \"fraction\", \"co\": \"mg/m3\"},"
                                  " \"tags\": {\"id\": \"sensor_id\"}}");
    struct cg_tag tb[] = {{"district", "north"}, {"id", "aq-7"}};
    /* 20 ppb NO2 at 20 °C = 20 * 1.9125037 = 38.250074 ug/m3; 1 ppm CO = 1.1644134 mg/m3 */
    struct cg_field fb[] = {CG_FIELD_F("PM2.5", 12.5), CG_FIELD_F("NO2", 38.25007399125280),
                            with_unit(CG_FIELD_I("temperature", 293), "K"), CG_FIELD_F("relativeHumidity", 0.55),
                            CG_FIELD_F("carbonMonoxide", 1.1644133826416299)};
    struct cg_point pb = POINT("AirQualityObserved", tb, fb, 0);
    /* 293 K = 19.85 °C, not 20: adjust vendor B to 293.15 K via a float */
    fb[2] = with_unit(CG_FIELD_F("temperature", 293.15), "K");
    char ra[4096];
    snprintf(ra, sizeof(ra), "%s", run(a, &pa, 0));
    assert_string_equal(ra, "air_quality,district=north,sensor_id=aq-7,quality=ok "
                            "pm2_5=12.5,no2=38.25007399,temperature=20,humidity=55,co=1.164413383 0");
    assert_string_equal(run(b, &pb, 0), ra);
    struct cg_norm_counters cnt;
    cg_norm_source_counters(a->s, &cnt);
    assert_int_equal(cnt.unit_converted, 3); /* no2, temperature, co; %RH is a spelling of % */
    assert_int_equal(cnt.type_coerced, 0);
    cg_norm_source_counters(b->s, &cnt);
    assert_int_equal(cnt.unit_converted, 2); /* temperature, humidity */
    env_free(a);
    env_free(b);
}

static void test_types_and_unknown_units(void **state)
{
    (void)state;
    struct env *e = env_new(NULL, NULL);
    struct cg_tag t[] = {{"sensor_id", "loop-1"}};
    struct cg_field f[] = {CG_FIELD_F("vehicles", 12.4), CG_FIELD_I("speed_avg", 50),
                           with_unit(CG_FIELD_F("occupancy", 3), "furlongs"), CG_FIELD_S("congested", "yes")};
    struct cg_point p = POINT("traffic", t, f, 0);
    assert_string_equal(run(e, &p, 0), "traffic,sensor_id=loop-1,quality=ok vehicles=12i,speed_avg=50 0");
    struct cg_norm_counters cnt;
    cg_norm_counters(e->n, &cnt);
    assert_int_equal(cnt.type_coerced, 2);
    assert_int_equal(cnt.unit_errors, 1);
    assert_int_equal(cnt.type_mismatch, 1);
    env_free(e);
}

/* ---- unknown names ----------------------------------------------------------- */

/* The events of the last run(), as "cause:field cause:field" (field "-" for
 * the whole point). */
static const char *events(struct env *e)
{
    static char buf[512];
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < e->scratch.n_ev && o < sizeof(buf); i++) {
        const struct cg_norm_event *v = &e->scratch.ev[i];
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s:%s", i ? " " : "", cg_drops_cause_name(v->cause),
                              v->field ? v->field : "-");
    }
    return buf;
}

static void test_unknown_fields_and_measurements(void **state)
{
    (void)state;
    /* default (schema_policy open): written unchanged, reported as unmapped */
    struct env *e = env_new(NULL, NULL);
    struct cg_tag t[] = {{"sensor_id", "w1"}};
    struct cg_field f[] = {CG_FIELD_F("temperature", 5), CG_FIELD_F("vendor_magic", 42)};
    struct cg_point p = POINT("weather", t, f, 0);
    assert_string_equal(run(e, &p, 0), "weather,sensor_id=w1,quality=ok temperature=5,vendor_magic=42 0");
    assert_string_equal(events(e), "unmapped_field:vendor_magic");
    assert_string_equal(e->scratch.ev_measurement, "weather");
    struct cg_field only[] = {CG_FIELD_F("vendor_magic", 42)};
    struct cg_point p2 = POINT("weather", t, only, 0);
    assert_string_equal(run(e, &p2, 0), "weather,sensor_id=w1,quality=ok vendor_magic=42 0");
    /* still validated: an unmapped field has no schema unit, so it keeps its value */
    struct cg_field g[] = {with_unit(CG_FIELD_F("x", 1), "degF")};
    struct cg_point p3 = POINT("my_own", t, g, 0);
    assert_string_equal(run(e, &p3, 0), "my_own,sensor_id=w1,quality=ok x=1 0");
    assert_string_equal(events(e), "unmapped_measurement:-");
    struct cg_norm_counters cnt;
    cg_norm_counters(e->n, &cnt);
    assert_int_equal(cnt.unknown_fields_kept, 2);
    assert_int_equal(cnt.unknown_fields_dropped, 0);
    assert_int_equal(cnt.unknown_measurements, 1);
    assert_int_equal(cnt.points_dropped, 0);
    env_free(e);

    /* strict: dropped, still counted and reported */
    e = env_new("{\"schema_policy\": \"strict\"}", NULL);
    assert_string_equal(run(e, &p, 0), "weather,sensor_id=w1,quality=ok temperature=5 0");
    assert_string_equal(events(e), "schema_field:vendor_magic");
    assert_string_equal(run(e, &p2, 0), "DROP: fields not in the schema");
    assert_string_equal(run(e, &p3, 0), "DROP: measurement not in the schema");
    assert_string_equal(events(e), "schema_measurement:-");
    cg_norm_counters(e->n, &cnt);
    assert_int_equal(cnt.unknown_fields_dropped, 2);
    assert_int_equal(cnt.unknown_measurements_dropped, 1);
    env_free(e);

    /* a source overrides the gateway's policy */
    e = env_new("{\"schema_policy\": \"strict\"}", "{\"schema_policy\": \"open\"}");
    assert_string_equal(run(e, &p, 0), "weather,sensor_id=w1,quality=ok temperature=5,vendor_magic=42 0");
    env_free(e);
}

/* Did you mean: the closest schema name, aliases included, nothing when far. */
static void test_closest_names(void **state)
{
    (void)state;
    struct env *e = env_new(NULL, NULL);
    const struct cg_schema *sc = cg_norm_schema(e->n);
    const struct cg_schema_meas *noise = cg_schema_measurement(sc, "noise");
    assert_string_equal(cg_schema_closest_field(noise, "LAmin"), "lamax");
    assert_string_equal(cg_schema_closest_field(noise, "laeq_"), "laeq");
    const struct cg_schema_meas *aq = cg_schema_measurement(sc, "air_quality");
    assert_string_equal(cg_schema_closest_field(aq, "pm_25"), "pm2_5");
    assert_string_equal(cg_schema_closest_field(aq, "Humidty"), "humidity");
    assert_null(cg_schema_closest_field(aq, "rssi"));
    assert_null(cg_schema_closest_field(aq, "value"));
    assert_string_equal(cg_schema_closest_measurement(sc, "air_qualty"), "air_quality");
    assert_null(cg_schema_closest_measurement(sc, "senml"));
    /* config time: what a profile or rule field will meet */
    const char *m, *f, *hint;
    assert_int_equal(cg_norm_check_name(e->c, NULL, "noise", "LAmin", &m, &f, &hint), CG_DROP_UNMAPPED_FIELD);
    assert_string_equal(hint, "lamax");
    assert_int_equal(cg_norm_check_name(e->c, NULL, "noise", "LAeq", &m, &f, &hint), 0);
    assert_int_equal(cg_norm_check_name(e->c, NULL, "nosie", NULL, &m, &f, &hint), CG_DROP_UNMAPPED_MEASUREMENT);
    assert_string_equal(hint, "noise");
    env_free(e);
}

/* ---- quality: range, limits, per quantity policy ------------------------------ */

static void test_quality_marks(void **state)
{
    (void)state;
    struct env *e = env_new(NULL, NULL);
    struct cg_tag t[] = {{"sensor_id", "aq-1"}};
    /* pm2_5 1500 > range max 1000: marked; no2 -5 < limit 0: impossible, dropped */
    struct cg_field f[] = {CG_FIELD_F("pm10", 20), CG_FIELD_F("pm2_5", 1500), CG_FIELD_F("no2", -5)};
    struct cg_point p = POINT("air_quality", t, f, 0);
    assert_string_equal(run(e, &p, 0), "air_quality,sensor_id=aq-1,quality=ok pm10=20 0 | "
                                       "air_quality,sensor_id=aq-1,quality=out_of_range pm2_5=1500 0");
    env_free(e);

    e = env_new("{\"impossible\": \"mark\", \"quantities\": {\"air_quality.pm2_5\": {\"out_of_range\": \"drop\"}}}",
                NULL);
    assert_string_equal(run(e, &p, 0), "air_quality,sensor_id=aq-1,quality=ok pm10=20 0 | "
                                       "air_quality,sensor_id=aq-1,quality=impossible no2=-5 0");
    struct cg_norm_counters cnt;
    cg_norm_counters(e->n, &cnt);
    assert_int_equal(cnt.out_of_range, 1);
    assert_int_equal(cnt.impossible, 1);
    assert_int_equal(cnt.values_dropped, 1);
    env_free(e);

    /* quality tag off */
    e = env_new("{\"quality_tag\": \"\"}", NULL);
    struct cg_field ok[] = {CG_FIELD_F("pm10", 20)};
    struct cg_point p2 = POINT("air_quality", t, ok, 0);
    assert_string_equal(run(e, &p2, 0), "air_quality,sensor_id=aq-1 pm10=20 0");
    env_free(e);
}

static void sensor_cb(void *ctx, const struct cg_norm_sensor *s)
{
    char *out = ctx;
    size_t l = strlen(out);
    snprintf(out + l, 512 - l, "%s oor=%llu imp=%llu stuck=%llu jump=%llu drop=%llu;", s->series,
             (unsigned long long)s->out_of_range, (unsigned long long)s->impossible, (unsigned long long)s->stuck,
             (unsigned long long)s->jump, (unsigned long long)s->dropped);
}

static void test_stuck_and_jump(void **state)
{
    (void)state;
    struct env *e = env_new(NULL, "{\"stuck_polls\": 3, \"jump_check\": true, \"max_step\": {\"temperature\": 5}}");
    struct cg_tag t[] = {{"sensor_id", "w1"}};
    const double temps[] = {10, 10, 10, 10, 11, 30, 30.5};
    const char *want[] = {
        "weather,sensor_id=w1,quality=ok temperature=10 0",
        "weather,sensor_id=w1,quality=ok temperature=10 1",
        "weather,sensor_id=w1,quality=stuck temperature=10 2",
        "weather,sensor_id=w1,quality=stuck temperature=10 3",
        "weather,sensor_id=w1,quality=ok temperature=11 4",
        "weather,sensor_id=w1,quality=jump temperature=30 5",
        "weather,sensor_id=w1,quality=ok temperature=30.5 6",
    };
    for (int i = 0; i < 7; i++) {
        struct cg_field f[] = {CG_FIELD_F("temperature", temps[i])};
        struct cg_point p = POINT("weather", t, f, i);
        assert_string_equal(run(e, &p, i), want[i]);
    }
    /* counters never stuck: a meter register at night */
    for (int i = 0; i < 5; i++) {
        struct cg_field f[] = {CG_FIELD_F("volume_total", 1234.5)};
        struct cg_point p = POINT("water", t, f, i);
        run(e, &p, i);
        assert_non_null(strstr(e->text, "quality=ok"));
    }
    char rep[512] = "";
    assert_int_equal(cg_norm_sensors(e->n, sensor_cb, rep), 1);
    assert_string_equal(rep, "weather,sensor_id=w1 oor=0 imp=0 stuck=2 jump=1 drop=0;");
    env_free(e);
}

/* ---- time ----------------------------------------------------------------------- */

static void test_time_policy(void **state)
{
    (void)state;
    struct env *e = env_new("{\"max_future_s\": 60, \"max_past_s\": 3600, \"past_policy\": \"drop\"}", NULL);
    struct cg_tag t[] = {{"sensor_id", "w1"}};
    struct cg_field f[] = {CG_FIELD_F("temperature", 10)};
    struct cg_point fut = POINT("weather", t, f, 1000);
    assert_string_equal(run(e, &fut, 0), "weather,sensor_id=w1,quality=ok temperature=10 0"); /* clamped */
    struct cg_point near = POINT("weather", t, f, 59);
    assert_string_equal(run(e, &near, 0), "weather,sensor_id=w1,quality=ok temperature=10 59");
    struct cg_point old = POINT("weather", t, f, -3601);
    assert_string_equal(run(e, &old, 0), "DROP: timestamp too far in the past");
    struct cg_norm_counters cnt;
    cg_norm_counters(e->n, &cnt);
    assert_int_equal(cnt.time_future, 1);
    assert_int_equal(cnt.time_clamped, 1);
    assert_int_equal(cnt.time_past, 1);
    assert_int_equal(cnt.time_dropped, 1);
    env_free(e);

    e = env_new("{\"max_future_s\": 60, \"future_policy\": \"drop\"}", NULL);
    assert_string_equal(run(e, &fut, 0), "DROP: timestamp too far in the future");
    env_free(e);
    e = env_new("{\"max_future_s\": 60, \"future_policy\": \"keep\"}", NULL);
    assert_string_equal(run(e, &fut, 0), "weather,sensor_id=w1,quality=ok temperature=10 1000");
    env_free(e);
}

struct sink {
    char text[8192];
    int points;
    const struct cg_norm_source *last_src;
};

static void emit_cb(void *ctx, struct cg_norm_source *src, const struct cg_point *pts, size_t n)
{
    struct sink *s = ctx;
    char buf[2048];
    render(pts, (int)n, buf, sizeof(buf));
    size_t l = strlen(s->text);
    snprintf(s->text + l, sizeof(s->text) - l, "%s%s", l ? " | " : "", buf);
    s->points += (int)n;
    s->last_src = src;
}

static void test_unsynced_clock(void **state)
{
    (void)state;
    struct env *e = env_new("{\"clock_report_s\": 60}", NULL);
    struct sink sk = {0};
    struct cg_tag t[] = {{"sensor_id", "w1"}};
    struct cg_field f[] = {CG_FIELD_F("temperature", 10), CG_FIELD_F("wind_speed", 80)};
    struct cg_point p = POINT("weather", t, f, 0);
    fake_synced = 0;
    cg_norm_tick(e->n, T0, emit_cb, &sk);
    assert_string_equal(sk.text, "citygate_clock synced=false,maxerror_us=16000000i,esterror_us=16000000i 0");
    assert_string_equal(run(e, &p, 0), "weather,sensor_id=w1,quality=unsynced_clock temperature=10 0 | "
                                       "weather,sensor_id=w1,quality=out_of_range wind_speed=80 0");
    fake_synced = 1;
    sk.text[0] = '\0';
    cg_norm_tick(e->n, T0 + 30 * S_NS, emit_cb, &sk); /* state updated, no report before 60 s */
    assert_string_equal(sk.text, "");
    assert_string_equal(run(e, &p, 30), "weather,sensor_id=w1,quality=ok temperature=10 0 | "
                                        "weather,sensor_id=w1,quality=out_of_range wind_speed=80 0");
    cg_norm_tick(e->n, T0 + 60 * S_NS, emit_cb, &sk);
    assert_string_equal(sk.text, "citygate_clock synced=true,maxerror_us=1000i,esterror_us=10i 60");
    struct cg_norm_clock ck;
    cg_norm_clock_state(e->n, &ck);
    assert_int_equal(ck.synced, 1);
    assert_int_equal(ck.checked_ns, T0 + 60 * S_NS);
    struct cg_norm_counters cnt;
    cg_norm_counters(e->n, &cnt);
    assert_int_equal(cnt.unsynced, 1);
    env_free(e);
}

/* ---- cardinality budget ------------------------------------------------------ */

static void budget_cb(void *ctx, const struct cg_norm_budget *b)
{
    snprintf(ctx, 256, "%s.%s values=%llu limit=%llu held=%llu source=%s example=%s", b->measurement, b->tag_key,
             (unsigned long long)b->values, (unsigned long long)b->limit, (unsigned long long)b->held_back, b->source,
             b->example);
}

static void test_cardinality_budget(void **state)
{
    (void)state;
    struct env *e = env_new("{\"max_tag_values\": 100, \"max_tag_values_by_measurement\": {\"traffic\": 3}}", NULL);
    char id[32];
    struct cg_tag t[] = {{"sensor_id", id}, {"lane", "1"}};
    struct cg_field f[] = {CG_FIELD_I("vehicles", 3)};
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof(id), "loop-%d", i);
        struct cg_point p = POINT("traffic", t, f, 0);
        run(e, &p, 0);
        if (i < 3) {
            assert_non_null(strstr(e->text, "quality=ok"));
        } else {
            assert_string_equal(e->text, "DROP: cardinality budget: too many distinct tag values");
        }
    }
    /* known values still pass */
    snprintf(id, sizeof(id), "loop-1");
    struct cg_point p = POINT("traffic", t, f, 0);
    assert_non_null(strstr(run(e, &p, 0), "quality=ok"));
    /* the budget is per measurement */
    snprintf(id, sizeof(id), "loop-9");
    struct cg_field g[] = {CG_FIELD_F("temperature", 3)};
    struct cg_point q = POINT("weather", t, g, 0);
    assert_non_null(strstr(run(e, &q, 0), "quality=ok"));
    char rep[256] = "";
    assert_int_equal(cg_norm_budgets(e->n, budget_cb, rep), 1);
    assert_string_equal(rep, "traffic.sensor_id values=3 limit=3 held=2 source=src example=loop-4");
    struct cg_norm_counters cnt;
    cg_norm_source_counters(e->s, &cnt);
    assert_int_equal(cnt.cardinality_held, 2);
    env_free(e);
}

/* ---- privacy ------------------------------------------------------------------------ */

static void test_privacy(void **state)
{
    (void)state;
    struct env *e = env_new("{\"privacy_salt\": \"s3cret\", \"privacy_salt_rotate_s\": 86400}",
                            "{\"privacy\": {\"mac\": \"hash\", \"device_id\": \"hash\", \"plate_fragment\": "
                            "\"truncate:2\", \"owner\": \"drop\"}}");
    struct cg_tag t[] = {{"sensor_id", "bt-1"}, {"mac", "AA:BB:CC:DD:EE:FF"}, {"owner", "x"}};
    struct cg_field f[] = {CG_FIELD_S("device_id", "AA:BB:CC:DD:EE:FF"), CG_FIELD_S("plate_fragment", "AB-123"),
                           CG_FIELD_I("devices_detected", 4)};
    struct cg_point p = POINT("traffic", t, f, 0);
    char first[1024];
    snprintf(first, sizeof(first), "%s", run(e, &p, 0));
    /* the tag and the field of the same MAC hash alike; 16 hex chars; the MAC is gone */
    assert_null(strstr(first, "AA:BB"));
    assert_null(strstr(first, "owner"));
    const char *h = strstr(first, "mac=");
    assert_non_null(h);
    char hash[17];
    memcpy(hash, h + 4, 16);
    hash[16] = '\0';
    for (int i = 0; i < 16; i++) {
        assert_non_null(strchr("0123456789abcdef", hash[i]));
    }
    /* known answer, computed outside citygate (Python hmac): HMAC-SHA256(HMAC-SHA256("s3cret",
     * "citygate-privacy/v1/19676"), "AA:BB:CC:DD:EE:FF"), first 16 hex digits */
    assert_string_equal(hash, "5d1643d6b8ac4c53");
    char want[1024];
    snprintf(want, sizeof(want),
             "traffic,mac=%s,sensor_id=bt-1,quality=ok device_id=\"%s\",plate_fragment=\"AB\",devices_detected=4i 0",
             hash, hash);
    assert_string_equal(first, want);
    /* same period: same hash (travel times can be matched); next day: different */
    struct cg_point p2 = POINT("traffic", t, f, 3600);
    assert_non_null(strstr(run(e, &p2, 3600), hash));
    struct cg_point p3 = POINT("traffic", t, f, 86400);
    assert_null(strstr(run(e, &p3, 86400), hash));
    struct cg_norm_counters cnt;
    cg_norm_counters(e->n, &cnt);
    assert_int_equal(cnt.privacy_hashed, 6);
    assert_int_equal(cnt.privacy_truncated, 3);
    assert_int_equal(cnt.privacy_dropped, 3);
    env_free(e);

    /* a different salt gives a different hash */
    e = env_new("{\"privacy_salt\": \"other\"}", "{\"privacy\": {\"mac\": \"hash\"}}");
    assert_null(strstr(run(e, &p, 0), hash));
    env_free(e);

    /* private schema fields are dropped when no rule names them */
    e = env_new(NULL, NULL);
    struct cg_tag t2[] = {{"sensor_id", "bt-1"}};
    struct cg_point p4 = POINT("traffic", t2, f, 0);
    assert_string_equal(run(e, &p4, 0), "traffic,sensor_id=bt-1,quality=ok devices_detected=4i 0");
    env_free(e);
}

/* ---- edge reduction -------------------------------------------------------------- */

static void test_deadband_heartbeat(void **state)
{
    (void)state;
    struct env *e = env_new(NULL, "{\"deadband\": {\"*\": 0, \"temperature\": 0.5}, \"heartbeat_s\": 60}");
    struct cg_tag t[] = {{"sensor_id", "w1"}};
    struct step {
        int t_s;
        double temp, hum;
        const char *want;
    } steps[] = {
        {0, 10.0, 50, "weather,sensor_id=w1,quality=ok temperature=10,humidity=50 0"},
        {10, 10.4, 50, "DROP: unchanged (deadband)"},
        {20, 10.6, 50, "weather,sensor_id=w1,quality=ok temperature=10.6 20"},
        {30, 10.6, 51, "weather,sensor_id=w1,quality=ok humidity=51 30"},
        {40, 10.7, 51, "DROP: unchanged (deadband)"},
        {80, 10.7, 51, "weather,sensor_id=w1,quality=ok temperature=10.7 80"}, /* heartbeat: 60 s since 20 */
        {90, 10.7, 51, "weather,sensor_id=w1,quality=ok humidity=51 90"},      /* heartbeat: 60 s since 30 */
    };
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        struct cg_field f[] = {CG_FIELD_F("temperature", steps[i].temp), CG_FIELD_F("humidity", steps[i].hum)};
        struct cg_point p = POINT("weather", t, f, steps[i].t_s);
        assert_string_equal(run(e, &p, steps[i].t_s), steps[i].want);
    }
    /* flagged values always go out */
    struct cg_field bad[] = {CG_FIELD_F("temperature", 99), CG_FIELD_F("humidity", 51)};
    struct cg_point pb = POINT("weather", t, bad, 95);
    assert_string_equal(run(e, &pb, 95), "weather,sensor_id=w1,quality=out_of_range temperature=99 95");
    struct cg_norm_counters cnt;
    cg_norm_counters(e->n, &cnt);
    assert_int_equal(cnt.heartbeats, 2);
    assert_int_equal(cnt.deadband_suppressed, 9);
    assert_int_equal(cnt.points_dropped, 0); /* reduction is not a drop */
    env_free(e);
}

static void test_window_aggregation(void **state)
{
    (void)state;
    fake_synced = 1;
    struct env *e = env_new("{\"window_grace_s\": 5, \"clock_report_s\": 0}",
                            "{\"window_s\": 60, \"aggregates\": [\"mean\", \"min\", \"max\", \"count\"]}");
    struct sink sk = {0};
    struct cg_tag t[] = {{"sensor_id", "loop-1"}};
    /* window [0, 60): speeds 40, 50, 60, vehicles 3, 4, 5 (a count: summed), and the
     * running total 100, 104, 108 (a counter: the window keeps the last reading) */
    for (int i = 0; i < 3; i++) {
        struct cg_field f[] = {CG_FIELD_F("speed_avg", 40 + 10 * i), CG_FIELD_I("vehicles", 3 + i),
                               CG_FIELD_I("vehicles_total", 100 + 4 * i), CG_FIELD_B("congested", false)};
        struct cg_point p = POINT("traffic", t, f, 10 + 20 * i);
        /* bools are not aggregated: they go out at once */
        run(e, &p, 10 + 20 * i);
        char want[128];
        snprintf(want, sizeof(want), "traffic,sensor_id=loop-1,quality=ok congested=false %d", 10 + 20 * i);
        assert_string_equal(e->text, want);
    }
    cg_norm_tick(e->n, T0 + 64 * S_NS, emit_cb, &sk); /* before end + grace */
    assert_string_equal(sk.text, "");
    cg_norm_tick(e->n, T0 + 65 * S_NS, emit_cb, &sk);
    assert_string_equal(sk.text, "traffic,sensor_id=loop-1,quality=ok speed_avg=50,speed_avg_min=40,speed_avg_max=60,"
                                 "speed_avg_count=3i,vehicles=12i,vehicles_min=3i,vehicles_max=5i,vehicles_count=3i,"
                                 "vehicles_total=108i,vehicles_total_min=100i,vehicles_total_max=108i,"
                                 "vehicles_total_count=3i 0");
    assert_ptr_equal(sk.last_src, e->s);
    /* a late value for the written window is counted, not written */
    struct cg_field late[] = {CG_FIELD_F("speed_avg", 99)};
    struct cg_point pl = POINT("traffic", t, late, 59);
    assert_string_equal(run(e, &pl, 66), "DROP: late for its window");
    /* a value in the next window closes the previous one at the next tick */
    struct cg_field a[] = {CG_FIELD_F("speed_avg", 30)};
    struct cg_point pa = POINT("traffic", t, a, 70);
    assert_string_equal(run(e, &pa, 70), "DROP: aggregated into a window");
    struct cg_point pb = POINT("traffic", t, a, 130);
    run(e, &pb, 130);
    sk.text[0] = '\0';
    cg_norm_tick(e->n, T0 + 131 * S_NS, emit_cb, &sk);
    assert_string_equal(sk.text, "traffic,sensor_id=loop-1,quality=ok speed_avg=30,speed_avg_min=30,speed_avg_max=30,"
                                 "speed_avg_count=1i 60");
    struct cg_norm_counters cnt;
    cg_norm_source_counters(e->s, &cnt);
    assert_int_equal(cnt.window_points, 2);
    assert_int_equal(cnt.window_late, 1);
    assert_int_equal(cnt.window_values, 11);
    env_free(e);
}

/* ---- gaps and device health --------------------------------------------------- */

static void test_gaps(void **state)
{
    (void)state;
    struct env *e = env_new(NULL, NULL);
    struct sink sk = {0};
    struct cg_norm_gap g = {.scope = CG_NORM_GAP_DEVICE, .source = "modbus-east", .device = "meter-3",
                            .cause = "timeout"};
    assert_int_equal(cg_norm_gap_begin(e->n, &g, T0 + 10 * S_NS, emit_cb, &sk), 0);
    assert_int_equal(cg_norm_gap_begin(e->n, &g, T0 + 20 * S_NS, emit_cb, &sk), -EALREADY);
    struct cg_norm_gap up = {.scope = CG_NORM_GAP_UPLINK, .device = "influx-main", .cause = "http_503"};
    assert_int_equal(cg_norm_gap_end(e->n, &up, T0, emit_cb, &sk), -ENOENT);
    assert_int_equal(cg_norm_gap_end(e->n, &g, T0 + 100 * S_NS, emit_cb, &sk), 0);
    char want[1024];
    snprintf(want, sizeof(want),
             "citygate_gap,scope=device,source=modbus-east,device=meter-3,cause=timeout start_ns=%lldi,end_ns=0i,"
             "duration_s=0,open=true 10 | "
             "citygate_gap,scope=device,source=modbus-east,device=meter-3,cause=timeout start_ns=%lldi,end_ns=%lldi,"
             "duration_s=90,open=false 10",
             T0 + 10 * S_NS, T0 + 10 * S_NS, T0 + 100 * S_NS);
    assert_string_equal(sk.text, want);
    assert_int_equal(cg_norm_gap_end(e->n, &g, T0 + 100 * S_NS, emit_cb, &sk), -ENOENT);

    struct cg_health_item h = {.device = "meter-3", .up = false, .ok = 10, .failed = 3, .consecutive_failures = 2,
                               .latency_ms = 12.5};
    struct cg_point dp;
    cg_norm_device_point("modbus-east", &h, T0, &e->scratch, &dp);
    render(&dp, 1, e->text, sizeof(e->text));
    assert_string_equal(e->text, "citygate_device,source=modbus-east,device=meter-3 up=false,quarantined=false,"
                                 "latency_ms=12.5,consecutive_failures=2i,errors=3i,ok=10i 0");
    env_free(e);
}

/* ---- config errors ------------------------------------------------------------------ */

struct conf_case {
    const char *conf, *src; /* src NULL: only the conf is parsed */
    const char *err;
};

static const struct conf_case conf_cases[] = {
    {"{\"schema_policy\": \"loose\"}", NULL, "normalise.schema_policy: must be one of open, strict; got 'loose'"},
    {"{\"max_state_mb\": 0}", NULL, "normalise.max_state_mb: must be 1..65536, got 0"},
    {NULL, "{\"static_tags\": {\"gateway\": 5}}",
     "sources[0].normalise.static_tags.gateway: must be a string or null"},
    {NULL, "{\"payload_tags\": \"trust\"}",
     "sources[0].normalise.payload_tags: must be one of protect, override; got 'trust'"},
    {"{\"out_of_range\": \"ignore\"}", NULL, "normalise.out_of_range: must be one of mark, drop; got 'ignore'"},
    {"{\"max_tag_values\": 0}", NULL, "normalise.max_tag_values: must be 1..1000000, got 0"},
    {"{\"schema_file\": \"/nonexistent/s.json\"}", NULL, "normalise.schema_file: /nonexistent/s.json does not exist"},
    {"{\"quantities\": {\"air_quality.pm3\": {\"out_of_range\": \"drop\"}}}", NULL,
     "normalise.quantities.air_quality.pm3: not a schema quantity"},
    {"{\"quantities\": {\"air_quality.pm10\": {\"out_of_rang\": \"drop\"}}}", NULL,
     "normalise.quantities.air_quality.pm10.out_of_rang: unknown key (did you mean 'out_of_range'?)"},
    {"{\"max_tag_values_by_measurement\": {\"traffic\": 0.5}}", NULL,
     "normalise.max_tag_values_by_measurement.traffic: must be an integer"},
    {"{\"privacy_salt_file\": \"/nonexistent/salt\"}", NULL, "normalise.privacy_salt_file: cannot read /nonexistent/salt"},
    {NULL, "{\"units\": {\"temperature\": \"degR\"}}",
     "sources[0].normalise.units.temperature: air_quality.temperature: unit 'degR' is not a temperature unit"},
    {NULL, "{\"units\": {\"pm2_5\": \"ppb\"}}",
     "sources[0].normalise.units.pm2_5: air_quality.pm2_5: converting 'ppb' to 'ug/m3' needs the molar mass"},
    {NULL, "{\"units\": {\"fluxcapacitance\": \"GW\"}}",
     "sources[0].normalise.units.fluxcapacitance: 'fluxcapacitance' is not a field of the schema"},
    {NULL, "{\"privacy\": {\"mac\": \"hash\"}}",
     "sources[0].normalise.privacy.mac: \"hash\" needs normalise.privacy_salt_file"},
    {NULL, "{\"privacy\": {\"mac\": \"truncate:x\"}}", "sources[0].normalise.privacy.mac: truncate:N needs N"},
    {NULL, "{\"privacy\": {\"mac\": \"blur\"}}", "sources[0].normalise.privacy.mac: must be \"drop\", \"hash\""},
    {NULL, "{\"window_s\": 60, \"deadband\": {\"*\": 0}}",
     "sources[0].normalise.deadband: choose deadband or window_s, not both"},
    {NULL, "{\"aggregates\": [\"mean\"]}", "sources[0].normalise.aggregates: only applies with window_s"},
    {NULL, "{\"window_s\": 60, \"aggregates\": [\"median\"]}",
     "sources[0].normalise.aggregates[0]: must be one of mean, min, max, count"},
    {NULL, "{\"deadband\": {\"temperature\": -1}}", "sources[0].normalise.deadband.temperature: must be at least 0, got -1"},
    {NULL, "{\"rename\": {\"a\": 5}}", "sources[0].normalise.rename.a: must be a string"},
    {NULL, "{\"renmae\": {}}", "sources[0].normalise.renmae: unknown key (did you mean 'rename'?)"},
};

static void test_conf_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(conf_cases) / sizeof(conf_cases[0]); i++) {
        const struct conf_case *k = &conf_cases[i];
        struct cg_errs errs = {0};
        struct cg_norm_conf *c = NULL;
        struct cg_norm_source *s = NULL;
        int rc;
        if (k->src == NULL) {
            cJSON *o = cJSON_Parse(k->conf);
            if (!cJSON_GetObjectItem(o, "schema_file")) {
                cJSON_AddStringToObject(o, "schema_file", SCHEMA);
            }
            rc = cg_norm_conf_parse(o, "normalise", NULL, &c, &errs);
            cJSON_Delete(o);
            assert_null(c);
        } else {
            c = conf_from(NULL);
            cJSON *o = cJSON_Parse(k->src);
            rc = cg_norm_source_parse(c, o, "sources[0].normalise", "x", &s, &errs);
            cJSON_Delete(o);
            assert_null(s);
            cg_norm_conf_free(c);
        }
        bool found = false;
        for (size_t m = 0; m < errs.n; m++) {
            found = found || strstr(errs.msg[m], k->err) != NULL;
        }
        if (rc != -EINVAL || !found) {
            for (size_t m = 0; m < errs.n; m++) {
                fprintf(stderr, "  got: %s\n", errs.msg[m]);
            }
            fail_msg("case %zu: rc %d, want an error containing '%s'", i, rc, k->err);
        }
        cg_errs_done(&errs);
    }
}

static void test_defaults_and_schema_lookup(void **state)
{
    (void)state;
    struct cg_errs errs = {0};
    struct cg_norm_conf *c = NULL;
    /* no section, no schema.json next to the config: the installed or built-in schema */
    assert_int_equal(cg_norm_conf_parse(NULL, "normalise", "/nonexistent", &c, &errs), 0);
    assert_non_null(cg_schema_measurement(cg_norm_conf_schema(c), "air_quality"));
    char msg[256];
    assert_int_equal(cg_norm_check_unit(c, "air_quality", "no2", "ppb", msg, sizeof(msg)), 0);
    assert_int_equal(cg_norm_check_unit(c, "air_quality", "no2", "ppq", msg, sizeof(msg)), -EINVAL);
    assert_non_null(strstr(msg, "unit 'ppq' is not a concentration unit"));
    assert_int_equal(cg_norm_check_unit(c, "my_own", "x", "whatever", msg, sizeof(msg)), 0);
    cg_norm_conf_free(c);
    /* schema.json in the config directory wins */
    assert_int_equal(cg_norm_conf_parse(NULL, "normalise", CG_SRC_DIR "/config", &c, &errs), 0);
    assert_non_null(strstr(cg_norm_conf_schema(c)->source, CG_SRC_DIR "/config/schema.json"));
    cg_norm_conf_free(c);
    /* disabled: points pass untouched */
    struct env *e = env_new("{\"enabled\": false}", NULL);
    struct cg_tag t[] = {{"x", "y"}};
    struct cg_field f[] = {with_unit(CG_FIELD_F("anything", 1), "degF")};
    struct cg_point p = POINT("whatever", t, f, 5000);
    assert_string_equal(run(e, &p, 0), "whatever,x=y anything=1 5000");
    env_free(e);
    cg_errs_done(&errs);
}

/* ---- threads ------------------------------------------------------------------------- */

struct worker {
    struct cg_norm *n;
    struct cg_norm_source *s;
    int id;
    int kept;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    struct cg_norm_scratch *scratch = malloc(sizeof(*scratch));
    struct cg_point out[CG_NORM_OUT_MAX];
    char id[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(id, sizeof(id), "s%d-%d", w->id, i % 50);
        struct cg_tag t[] = {{"sensor_id", id}};
        struct cg_field f[] = {CG_FIELD_F("temperature", (double)(i % 7)), CG_FIELD_F("humidity", 40 + i % 3)};
        struct cg_point p = POINT("weather", t, f, i);
        const char *why;
        int rc = cg_norm_point(w->n, w->s, &p, T0 + (int64_t)i * S_NS, scratch, out, &why);
        if (rc > 0) {
            w->kept++;
        }
    }
    free(scratch);
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    struct env *e = env_new(NULL, "{\"deadband\": {\"humidity\": 0.5}, \"stuck_polls\": 2}");
    pthread_t th[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){.n = e->n, .s = e->s, .id = i};
        assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
    }
    struct sink sk = {0};
    for (int i = 0; i < 20; i++) {
        cg_norm_tick(e->n, T0 + (int64_t)i * S_NS, emit_cb, &sk);
        sk.text[0] = '\0';
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].kept, 3000); /* temperature changes every reading */
    }
    struct cg_norm_counters cnt;
    cg_norm_counters(e->n, &cnt);
    assert_int_equal(cnt.points_in, 12000);
    env_free(e);
}

/* ---- memory bounds (issue 13) ------------------------------------------------- */

static void test_memory_bounds(void **state)
{
    (void)state;
    /* an idle series is forgotten after series_idle_s; its next reading starts afresh */
    struct env *e = env_new("{\"series_idle_s\": 10, \"stuck_polls\": 2, \"clock_report_s\": 0}", NULL);
    struct sink sk = {0};
    struct cg_tag t[] = {{"sensor_id", "w1"}};
    struct cg_field f[] = {CG_FIELD_F("temperature", 5)};
    struct cg_point p = POINT("weather", t, f, 0);
    assert_string_equal(run(e, &p, 0), "weather,sensor_id=w1,quality=ok temperature=5 0");
    assert_string_equal(run(e, &p, 1), "weather,sensor_id=w1,quality=stuck temperature=5 0");
    struct cg_norm_counters cnt;
    cg_norm_tick(e->n, T0 + 10 * S_NS, emit_cb, &sk);
    cg_norm_counters(e->n, &cnt);
    assert_int_equal(cnt.series_evicted, 0);
    cg_norm_tick(e->n, T0 + 11 * S_NS, emit_cb, &sk);
    cg_norm_counters(e->n, &cnt);
    assert_int_equal(cnt.series_evicted, 1);
    assert_string_equal(run(e, &p, 12), "weather,sensor_id=w1,quality=ok temperature=5 0");
    env_free(e);

    /* not while a window waits to be written */
    e = env_new("{\"series_idle_s\": 10, \"window_grace_s\": 2, \"clock_report_s\": 0}", "{\"window_s\": 60}");
    assert_string_equal(run(e, &p, 0), "DROP: aggregated into a window");
    cg_norm_tick(e->n, T0 + 30 * S_NS, emit_cb, &sk);
    cg_norm_tick(e->n, T0 + 62 * S_NS, emit_cb, &sk);
    assert_int_equal(sk.points, 1);
    cg_norm_counters(e->n, &cnt);
    assert_int_equal(cnt.series_evicted, 0);
    cg_norm_tick(e->n, T0 + 63 * S_NS, emit_cb, &sk);
    cg_norm_counters(e->n, &cnt);
    assert_int_equal(cnt.series_evicted, 1);
    env_free(e);

    /* max_state_mb: past it new series pass without state (counted), nothing is lost */
    e = env_new("{\"max_state_mb\": 1, \"max_tag_values\": 100000}", NULL);
    char sid[32];
    struct cg_tag ts[] = {{"sensor_id", sid}};
    struct cg_point ps = POINT("weather", ts, f, 0);
    for (int i = 0; i < 10000; i++) {
        snprintf(sid, sizeof(sid), "s%d", i);
        assert_int_equal(cg_norm_point(e->n, e->s, &ps, T0, &e->scratch, e->out, &e->why), 1);
    }
    cg_norm_counters(e->n, &cnt);
    assert_true(cnt.series_full > 0 && cnt.series_full < 10000);
    assert_int_equal(cnt.points_out, 10000);
    env_free(e);

    /* max_tag_keys: a point bringing a new (measurement, tag key) past it is held back */
    e = env_new("{\"max_tag_keys\": 2}", NULL);
    struct cg_tag ab[] = {{"a", "1"}, {"b", "1"}}, ac[] = {{"a", "1"}, {"c", "1"}};
    struct cg_point pab = POINT("weather", ab, f, 0), pac = POINT("weather", ac, f, 0);
    assert_string_equal(run(e, &pab, 0), "weather,a=1,b=1,quality=ok temperature=5 0");
    assert_string_equal(run(e, &pac, 0), "DROP: cardinality budget: too many distinct tag keys (normalise.max_tag_keys)");
    assert_string_equal(events(e), "cardinality:c");
    env_free(e);

    /* the ceiling --check-config prints, from the config */
    e = env_new(NULL, NULL);
    char line[512];
    size_t bytes = cg_norm_conf_memory_ceiling(e->c, line, sizeof(line));
    assert_string_equal(line, "normaliser memory ceiling: 146.3 MiB = series state 128 MiB (normalise.max_state_mb) + "
                              "tag value sets 16.2 MiB (normalise.max_tag_keys 1024 x 2048 slots of 8 bytes) + series "
                              "index 2.0 MiB (normalise.max_series 100000)");
    assert_true(bytes > (size_t)146 << 20 && bytes < (size_t)147 << 20);
    env_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_vendors_identical),
        cmocka_unit_test(test_types_and_unknown_units),
        cmocka_unit_test(test_unknown_fields_and_measurements),
        cmocka_unit_test(test_closest_names),
        cmocka_unit_test(test_memory_bounds),
        cmocka_unit_test(test_quality_marks),
        cmocka_unit_test(test_stuck_and_jump),
        cmocka_unit_test(test_time_policy),
        cmocka_unit_test(test_unsynced_clock),
        cmocka_unit_test(test_cardinality_budget),
        cmocka_unit_test(test_privacy),
        cmocka_unit_test(test_deadband_heartbeat),
        cmocka_unit_test(test_window_aggregation),
        cmocka_unit_test(test_gaps),
        cmocka_unit_test(test_conf_errors),
        cmocka_unit_test(test_defaults_and_schema_lookup),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
