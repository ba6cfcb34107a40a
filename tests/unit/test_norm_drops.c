/* Nothing silent (issue 11): every place the core can discard a point, field
 * or tag, driven through the real entry (cg_sink_emit: normaliser, encoder,
 * a memory journal). For each cause the same reading is sent twice: the
 * ledger counts it under its (cause, source, measurement, field) labels, the
 * Prometheus text shows it, and the log says so exactly once. Also the
 * ledger on its own: bounded labels ("other"), the rate limit, the order of
 * the snapshot. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "drops.h"
#include "journal.h"
#include "normalise.h"
#include "sink.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SCHEMA CG_SRC_DIR "/config/schema.json"
#define S_NS 1000000000LL

static char log_path[] = "/tmp/test_norm_drops.XXXXXX";
static int saved_stderr = -1;

struct env {
    struct cg_norm_conf *c;
    struct cg_norm_source *src[3]; /* open, strict, win */
    struct cg_sink *sink[3];
    struct cg_pipeline pl;
    struct cg_tag st[2];
};

static struct cg_norm_source *src_from(const struct cg_norm_conf *c, const char *json, const char *name)
{
    struct cg_errs errs = {0};
    struct cg_norm_source *s = NULL;
    cJSON *o = cJSON_Parse(json);
    assert_non_null(o);
    int rc = cg_norm_source_parse(c, o, "sources[0].normalise", name, &s, &errs);
    for (size_t i = 0; i < errs.n; i++) {
        fprintf(stderr, "src: %s\n", errs.msg[i]);
    }
    assert_int_equal(rc, 0);
    cJSON_Delete(o);
    cg_errs_done(&errs);
    return s;
}

static struct env *env_new(void)
{
    struct env *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    struct cg_errs errs = {0};
    cJSON *o = cJSON_Parse("{\"schema_file\": \"" SCHEMA "\", \"clock_check\": false, "
                           "\"max_tag_values_by_measurement\": {\"traffic\": 1}, \"future_policy\": \"drop\", "
                           "\"past_policy\": \"drop\", \"max_past_s\": 3600, "
                           "\"quantities\": {\"air_quality.pm2_5\": {\"out_of_range\": \"drop\"}}}");
    assert_non_null(o);
    assert_int_equal(cg_norm_conf_parse(o, "normalise", NULL, &e->c, &errs), 0);
    cJSON_Delete(o);
    cg_errs_done(&errs);
    char priv[1024];
    int k = snprintf(priv, sizeof(priv), "{\"privacy\": {\"mac\": \"drop\"");
    for (int i = 0; i < 9; i++) {
        k += snprintf(priv + k, sizeof(priv) - (size_t)k, ", \"t%d\": \"truncate:1024\"", i);
    }
    snprintf(priv + k, sizeof(priv) - (size_t)k, "}}");
    e->src[0] = src_from(e->c, priv, "open");
    e->src[1] = src_from(e->c, "{\"schema_policy\": \"strict\"}", "strict");
    e->src[2] = src_from(e->c, "{\"window_s\": 60}", "win");
    e->pl.journal = cg_journal_new(64u << 20, 1);
    assert_non_null(e->pl.journal);
    e->pl.norm = cg_norm_new(e->c);
    assert_non_null(e->pl.norm);
    e->pl.drops = cg_drops_new();
    e->st[0] = (struct cg_tag){"city", "tashkent"};
    e->st[1] = (struct cg_tag){"gateway", "gw1"};
    e->pl.lp.static_tags = e->st;
    e->pl.lp.n_static_tags = 2;
    const char *names[3] = {"open", "strict", "win"};
    for (int i = 0; i < 3; i++) {
        e->sink[i] = cg_sink_new(&e->pl, names[i], e->src[i]);
        assert_non_null(e->sink[i]);
    }
    return e;
}

static void env_free(struct env *e)
{
    for (int i = 0; i < 3; i++) {
        cg_sink_free(e->sink[i]);
    }
    cg_norm_free(e->pl.norm);
    for (int i = 0; i < 3; i++) {
        cg_norm_source_free(e->src[i]);
    }
    cg_drops_free(e->pl.drops);
    cg_journal_free(e->pl.journal);
    cg_norm_conf_free(e->c);
    free(e);
}

static int log_setup(void **state)
{
    (void)state;
    int fd = mkstemp(log_path);
    assert_true(fd >= 0);
    fflush(stderr);
    saved_stderr = dup(2);
    dup2(fd, 2);
    close(fd);
    return 0;
}

static int log_teardown(void **state)
{
    (void)state;
    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    unlink(log_path);
    return 0;
}

/* Lines of the log so far that contain every one of the needles. */
static int log_count(const char *a, const char *b)
{
    fflush(stderr);
    FILE *f = fopen(log_path, "r");
    assert_non_null(f);
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof(line), f)) {
        n += strstr(line, a) != NULL && (b == NULL || strstr(line, b) != NULL);
    }
    fclose(f);
    return n;
}

static uint64_t count_of(struct env *e, enum cg_drop_cause c, const char *src, const char *meas, const char *field)
{
    struct cg_drops_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(cg_drops_snapshot(e->pl.drops, &rows, &n), 0);
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (rows[i].cause == c && strcmp(rows[i].source, src) == 0 && strcmp(rows[i].measurement, meas) == 0 &&
            strcmp(rows[i].field, field) == 0) {
            v = rows[i].count;
        }
    }
    free(rows);
    return v;
}

static void expect_cause(struct env *e, int sink, const struct cg_point *p, enum cg_drop_cause c, const char *meas,
                         const char *field, uint64_t per_send)
{
    const char *src = sink == 0 ? "open" : sink == 1 ? "strict" : "win";
    /* a fresh ledger per cause: the rate limit of new-key lines is tested on its own */
    cg_drops_free(e->pl.drops);
    e->pl.drops = cg_drops_new();
    char needle[128];
    snprintf(needle, sizeof(needle), cg_drops_cause_kept(c) ? "citygate_unmapped_total{kind=\"%s\"}"
                                                               : "citygate_discarded_total{cause=\"%s\"}",
             cg_drops_cause_kept(c) ? (c == CG_DROP_UNMAPPED_FIELD ? "field" : "measurement")
                                    : cg_drops_cause_name(c));
    char who[160];
    if (field[0]) {
        snprintf(who, sizeof(who), "measurement '%s', field '%s'", meas, field);
    } else {
        snprintf(who, sizeof(who), "measurement '%s':", meas);
    }
    int before = log_count(needle, who);
    for (int i = 0; i < 2; i++) {
        cg_sink_emit(e->sink[sink], p, 1, 0);
    }
    uint64_t got = count_of(e, c, src, meas, field);
    if (got != 2 * per_send) {
        printf("cause %s: count %llu, want %llu\n", cg_drops_cause_name(c), (unsigned long long)got,
               (unsigned long long)(2 * per_send));
    }
    assert_int_equal(got, 2 * per_send);
    assert_int_equal(log_count(needle, who) - before, 1);
    struct cg_drops_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(cg_drops_snapshot(e->pl.drops, &rows, &n), 0);
    struct cg_buf b;
    cg_buf_init(&b, 1 << 20);
    assert_int_equal(cg_drops_render_metrics(rows, n, &b), 0);
    char want[512];
    snprintf(want, sizeof(want), "%.*s,source=\"%s\",measurement=\"%s\",field=\"%s\"} %llu\n",
             (int)(strlen(needle) - 1), needle, src, meas, field, (unsigned long long)(2 * per_send));
    if (strstr(b.data, want) == NULL) {
        printf("want %s in\n%s", want, b.data);
    }
    assert_non_null(strstr(b.data, want));
    cg_buf_done(&b);
    free(rows);
}

#define PT(m, tg, ntg, fl, nfl, t) \
    ((struct cg_point){.measurement = (m), .tags = (tg), .n_tags = (ntg), .fields = (fl), .n_fields = (nfl), .time_ns = (t)})

static void noop_emit(void *ctx, struct cg_norm_source *src, const struct cg_point *pts, size_t n)
{
    (void)ctx, (void)src, (void)pts, (void)n;
}

static void test_every_cause(void **state)
{
    (void)state;
    struct env *e = env_new();
    int64_t now = cg_time_now_ns();
    struct cg_tag sid[] = {{"sensor_id", "s1"}};
    struct cg_field x[] = {CG_FIELD_F("x", 1)};
    struct cg_field aq_rssi[] = {CG_FIELD_F("pm2_5", 10), CG_FIELD_F("rssi", -70)};
    struct cg_field aq[] = {CG_FIELD_F("pm2_5", 10)};

    struct cg_point p = PT("my_own", sid, 1, x, 1, now);
    expect_cause(e, 0, &p, CG_DROP_UNMAPPED_MEASUREMENT, "my_own", "", 1);
    p = PT("air_quality", sid, 1, aq_rssi, 2, now);
    expect_cause(e, 0, &p, CG_DROP_UNMAPPED_FIELD, "air_quality", "rssi", 1);
    p = PT("my_own", sid, 1, x, 1, now);
    expect_cause(e, 1, &p, CG_DROP_SCHEMA_MEASUREMENT, "my_own", "", 1);
    p = PT("air_quality", sid, 1, aq_rssi, 2, now);
    expect_cause(e, 1, &p, CG_DROP_SCHEMA_FIELD, "air_quality", "rssi", 1);
    p = PT("citygate_norm", sid, 1, x, 1, now);
    expect_cause(e, 0, &p, CG_DROP_RESERVED_MEASUREMENT, "citygate_norm", "", 1);
    struct cg_tag evil[] = {{"gateway", "evil"}, {"sensor_id", "s1"}};
    p = PT("air_quality", evil, 2, aq, 1, now);
    expect_cause(e, 0, &p, CG_DROP_PROTECTED_TAG, "air_quality", "gateway", 1);

    struct cg_field veh[] = {CG_FIELD_I("vehicles", 3)};
    struct cg_tag ta[] = {{"sensor_id", "a"}}, tb[] = {{"sensor_id", "b"}};
    p = PT("traffic", ta, 1, veh, 1, now);
    assert_int_equal(cg_sink_emit(e->sink[0], &p, 1, 0), 1); /* takes the budget of 1 */
    p = PT("traffic", tb, 1, veh, 1, now);
    expect_cause(e, 0, &p, CG_DROP_CARDINALITY, "traffic", "sensor_id", 1);

    struct cg_tag mac[] = {{"mac", "aa:bb"}, {"sensor_id", "s1"}};
    p = PT("air_quality", mac, 2, aq, 1, now);
    expect_cause(e, 0, &p, CG_DROP_PRIVACY_TAG, "air_quality", "mac", 1);
    struct cg_field plate[] = {CG_FIELD_I("vehicles", 1), CG_FIELD_S("plate_fragment", "AB1")};
    p = PT("traffic", ta, 1, plate, 2, now);
    expect_cause(e, 0, &p, CG_DROP_PRIVACY_FIELD, "traffic", "plate_fragment", 1);

    static char big[9][1001];
    struct cg_tag many[9];
    static const char *const tk[] = {"t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8"};
    for (int i = 0; i < 9; i++) {
        memset(big[i], 'a' + i, 1000);
        big[i][1000] = '\0';
        many[i] = (struct cg_tag){tk[i], big[i]};
    }
    p = PT("my_big", many, 9, x, 1, now);
    expect_cause(e, 0, &p, CG_DROP_PRIVACY_OVERFLOW, "my_big", "t8", 1);

    struct cg_field furlong[] = {CG_FIELD_F("pm2_5", 1)};
    furlong[0].unit = "furlong";
    p = PT("air_quality", sid, 1, furlong, 1, now);
    expect_cause(e, 0, &p, CG_DROP_UNIT, "air_quality", "pm2_5", 1);
    struct cg_field text[] = {CG_FIELD_S("pm2_5", "high")};
    p = PT("air_quality", sid, 1, text, 1, now);
    expect_cause(e, 0, &p, CG_DROP_TYPE, "air_quality", "pm2_5", 1);
    struct cg_field wet[] = {CG_FIELD_F("pm2_5", 10), CG_FIELD_F("humidity", 150)};
    p = PT("air_quality", sid, 1, wet, 2, now);
    expect_cause(e, 0, &p, CG_DROP_IMPOSSIBLE, "air_quality", "humidity", 1);
    struct cg_field dusty[] = {CG_FIELD_F("pm2_5", 5000), CG_FIELD_F("pm10", 20)};
    p = PT("air_quality", sid, 1, dusty, 2, now);
    expect_cause(e, 0, &p, CG_DROP_OUT_OF_RANGE, "air_quality", "pm2_5", 1);
    p = PT("air_quality", sid, 1, aq, 1, now + 86400 * S_NS);
    expect_cause(e, 0, &p, CG_DROP_TIME_FUTURE, "air_quality", "", 1);
    p = PT("air_quality", sid, 1, aq, 1, now - 7200 * S_NS);
    expect_cause(e, 0, &p, CG_DROP_TIME_PAST, "air_quality", "", 1);

    /* a value for a window already written */
    int64_t t0 = now - 600 * S_NS;
    p = PT("air_quality", sid, 1, aq, 1, t0);
    assert_int_equal(cg_sink_emit(e->sink[2], &p, 1, 0), 0); /* aggregated */
    cg_norm_tick(e->pl.norm, now, noop_emit, NULL);
    expect_cause(e, 2, &p, CG_DROP_WINDOW_LATE, "air_quality", "pm2_5", 1);

    struct cg_tag empty[] = {{"sensor_id", "s1"}, {"site", ""}};
    p = PT("air_quality", empty, 2, aq, 1, now);
    expect_cause(e, 0, &p, CG_DROP_EMPTY_TAG, "air_quality", "site", 1);

    static struct cg_tag lots[CG_POINT_MAX_TAGS + 1];
    static char keys[CG_POINT_MAX_TAGS + 1][8];
    for (int i = 0; i <= CG_POINT_MAX_TAGS; i++) {
        snprintf(keys[i], sizeof(keys[i]), "k%02d", i);
        lots[i] = (struct cg_tag){keys[i], "v"};
    }
    p = PT("my_tags", lots, CG_POINT_MAX_TAGS + 1, x, 1, now);
    expect_cause(e, 0, &p, CG_DROP_TAG_LIMIT, "my_tags", "k64", 1);

    static struct cg_field wide[CG_POINT_MAX_FIELDS + 1];
    static char fkeys[CG_POINT_MAX_FIELDS + 1][8];
    for (int i = 0; i <= CG_POINT_MAX_FIELDS; i++) {
        snprintf(fkeys[i], sizeof(fkeys[i]), "f%03d", i);
        wide[i] = (struct cg_field)CG_FIELD_F(fkeys[i], 1);
    }
    p = PT("my_wide", sid, 1, wide, CG_POINT_MAX_FIELDS + 1, now);
    expect_cause(e, 0, &p, CG_DROP_FIELD_LIMIT, "my_wide", "f256", 1);

    struct cg_field nan[] = {CG_FIELD_F("pm2_5", 10), CG_FIELD_F("pm10", NAN)};
    p = PT("air_quality", sid, 1, nan, 2, now);
    expect_cause(e, 0, &p, CG_DROP_NONFINITE, "air_quality", "pm10", 1);
    struct cg_field bad[] = {CG_FIELD_F("_bad", 1)};
    p = PT("my_own", sid, 1, bad, 1, now);
    expect_cause(e, 0, &p, CG_DROP_INVALID, "my_own", "", 1);
    env_free(e);
}

/* The ledger alone: labels bounded, overflow under "other", the rate limit of
 * new-key announcements, largest first. */
static void test_ledger_bounds(void **state)
{
    (void)state;
    struct cg_drops *d = cg_drops_new();
    assert_non_null(d);
    char f[32];
    int said = 0;
    for (int i = 0; i < CG_DROPS_MAX_KEYS + 10; i++) {
        snprintf(f, sizeof(f), "f%d", i);
        said += cg_drops_add(d, CG_DROP_UNIT, "src", "m", f, 1, 0); /* all at t=0 */
    }
    assert_int_equal(said, 20); /* a burst of 20, then 5 a second */
    assert_false(cg_drops_add(d, CG_DROP_UNIT, "src", "m", "f0", 1, 100));
    assert_true(cg_drops_add(d, CG_DROP_UNIT, "src", "m", "f20", 1, 1000)); /* announced late, once */
    assert_false(cg_drops_add(d, CG_DROP_UNIT, "src", "m", "f20", 1, 5000));
    assert_true(cg_drops_add(d, CG_DROP_TYPE, "src", "m", "x", 5, 6000));
    struct cg_drops_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(cg_drops_snapshot(d, &rows, &n), 0);
    assert_int_equal(n, CG_DROPS_MAX_KEYS + 2); /* the keys, plus "other" of unit and of type */
    assert_int_equal(rows[0].count, 10);        /* the 10 keys past the cap */
    assert_string_equal(rows[0].source, "other");
    assert_string_equal(rows[0].field, "other");
    assert_int_equal(rows[0].cause, CG_DROP_UNIT);
    assert_int_equal(rows[1].count, 5);
    assert_int_equal(rows[1].cause, CG_DROP_TYPE);
    assert_string_equal(rows[1].source, "other");
    uint64_t tot[CG_DROP_CAUSE_N];
    cg_drops_totals(d, tot);
    assert_int_equal(tot[CG_DROP_UNIT], CG_DROPS_MAX_KEYS + 10 + 3); /* + f0 once, f20 twice */
    free(rows);
    /* long names are cut, marked */
    char longname[200];
    memset(longname, 'n', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    struct cg_drops *d2 = cg_drops_new();
    cg_drops_add(d2, CG_DROP_UNIT, longname, "m", "f", 1, 0);
    assert_int_equal(cg_drops_snapshot(d2, &rows, &n), 0);
    assert_int_equal(strlen(rows[0].source), CG_DROPS_LABEL_MAX - 1);
    assert_string_equal(rows[0].source + CG_DROPS_LABEL_MAX - 4, "...");
    free(rows);
    cg_drops_free(d2);
    cg_drops_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ledger_bounds),
        cmocka_unit_test_setup_teardown(test_every_cause, log_setup, log_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
