/* Alarm rules: config errors with their JSON path, the crash-between-phases
 * recovery (a pending event is appended again, exactly the same line), the
 * restored raised state, the max_series cap, and rate of rise over a window
 * longer than the samples kept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "alarm.h"

#include <citygate/point.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define T0 1700000000000000000LL
#define S 1000000000LL

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/cgalarm.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd);
}

static struct cg_alarm_conf *parse(const char *json, struct cg_errs *errs)
{
    cJSON *doc = cJSON_Parse(json);
    assert_non_null(doc);
    struct cg_alarm_conf *c = NULL;
    cg_alarm_conf_parse(doc, "alarms", &c, errs);
    cJSON_Delete(doc);
    return c;
}

/* A fresh engine on dir (it takes the parsed rules). */
static struct cg_alarms *engine(const char *rules, size_t max_series)
{
    struct cg_errs errs = {0};
    struct cg_alarm_conf *c = parse(rules, &errs);
    assert_non_null(c);
    const char *names[] = {"db"};
    char lane[128];
    snprintf(lane, sizeof(lane), "%s/lane", dir);
    struct cg_alarm_env env = {.state_dir = dir, .lane_dir = lane, .reader_names = names, .n_readers = 1,
                               .max_series = max_series};
    char err[256] = "";
    struct cg_alarms *a = cg_alarms_new(c, &env, err, sizeof(err));
    if (a == NULL) {
        fail_msg("cg_alarms_new: %s", err);
    }
    return a;
}

static void reading(struct cg_alarms *a, const char *site, int64_t ts, double v)
{
    struct cg_tag tags[] = {{"site", site}, {"quality", "ok"}};
    struct cg_field f[] = {CG_FIELD_F("level", v)};
    struct cg_point p = {.measurement = "water_level", .tags = tags, .n_tags = 2, .fields = f, .n_fields = 1,
                         .time_ns = ts};
    cg_alarms_observe(a, &p, ts);
}

/* Everything unread in the lane, committed. */
static char *lane_lines(struct cg_alarms *a, long *n)
{
    struct cg_buf b;
    cg_buf_init(&b, 1 << 20);
    *n = cg_journal_read(cg_alarms_lane(a), 0, &b, 1000, 1 << 20);
    cg_journal_commit(cg_alarms_lane(a), 0);
    cg_buf_putc(&b, '\0');
    char *s = strdup(b.data);
    cg_buf_done(&b);
    return s;
}

static void test_conf_errors(void **state)
{
    (void)state;
    struct cg_errs errs = {0};
    struct cg_alarm_conf *c = parse("[{\"name\":\"a\",\"kind\":\"threshold\",\"measurement\":\"m\",\"field\":\"f\","
                                    "\"raise_above\":10,\"clear_below\":20},"
                                    "{\"name\":\"a\",\"kind\":\"rate_of_rise\",\"measurement\":\"m\",\"field\":\"f\"},"
                                    "{\"name\":\"c\",\"kind\":\"any\",\"of\":[\"a\",\"nope\"]},"
                                    "{\"name\":\"d e\",\"kind\":\"stale\"}]",
                                    &errs);
    assert_null(c);
    const char *want[] = {
        "alarms[0].clear_below: 20 is above raise_above (10): the alarm would never clear",
        "alarms[1].name: 'a' is already the name of alarms[0]",
        "alarms[1]: a rate_of_rise alarm needs \"rise\" > 0",
        "alarms[2].of[1]: 'nope' is not the name of an alarm",
        "alarms[3].name: 'd e': use 1 to 64 of A-Z a-z 0-9 _ . -",
        "alarms[3]: a stale alarm needs \"measurement\" and \"field\"",
    };
    assert_int_equal(errs.n, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < errs.n; i++) {
        assert_string_equal(errs.msg[i], want[i]);
    }
    cg_errs_done(&errs);
}

static const char *THRESHOLD = "[{\"name\":\"flood\",\"kind\":\"threshold\",\"measurement\":\"water_level\","
                               "\"field\":\"level\",\"raise_above\":300,\"clear_below\":280}]";

/* A crash after the state file said "pending" and before (or after) the lane
 * append: the next start appends the same line again and keeps the alarm
 * raised, so a reading still above raises nothing new. */
static void test_pending_recovered(void **state)
{
    (void)state;
    struct cg_alarms *a = engine(THRESHOLD, 0);
    reading(a, "b3", T0, 312);
    long n = 0;
    char *first = lane_lines(a, &n);
    assert_int_equal(n, 1);
    assert_non_null(strstr(first, "citygate_event,alarm=flood,series_id=water_level.level,site=b3,state=raised "
                                  "value=312,threshold=300,"));
    cg_alarms_free(a);

    /* the state file as the crash left it: raised, event still pending */
    char path[128], line[4096], all[8192] = "";
    snprintf(path, sizeof(path), "%s/alarms.state", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof(line), f)) {
        strcat(all, line);
    }
    fclose(f);
    assert_non_null(strstr(all, "R "));
    assert_null(strstr(all, "P "));
    f = fopen(path, "a");
    fprintf(f, "P %s", first);
    fclose(f);

    a = engine(THRESHOLD, 0);
    char *again = lane_lines(a, &n);
    assert_int_equal(n, 1);
    assert_string_equal(again, first); /* the same point: same series, same time */
    reading(a, "b3", T0 + 60 * S, 330); /* still above: restored, nothing new */
    free(lane_lines(a, &n));
    assert_int_equal(n, 0);
    struct cg_alarms_stats st;
    cg_alarms_stats(a, &st);
    assert_int_equal(st.active, 1);
    reading(a, "b3", T0 + 120 * S, 279);
    char *cleared = lane_lines(a, &n);
    assert_int_equal(n, 1);
    assert_non_null(strstr(cleared, "state=cleared value=279,threshold=280,"));
    cg_alarms_free(a);
    /* and the pending mark is gone: a third start appends nothing */
    a = engine(THRESHOLD, 0);
    free(lane_lines(a, &n));
    assert_int_equal(n, 0);
    cg_alarms_free(a);
    free(first);
    free(again);
    free(cleared);
}

static void test_max_series(void **state)
{
    (void)state;
    struct cg_alarms *a = engine(THRESHOLD, 0);
    /* max_series defaults to 4096 from the rule; the engine's cap is the rule's */
    for (int i = 0; i < 4100; i++) {
        char site[16];
        snprintf(site, sizeof(site), "s%d", i);
        reading(a, site, T0, 100);
    }
    struct cg_alarms_stats st;
    cg_alarms_stats(a, &st);
    assert_int_equal(st.series, 4096);
    assert_int_equal(st.series_refused, 4);
    cg_alarms_free(a);
}

/* A reading every second over a 600 s window: 32 samples kept, window/31
 * apart; the rise is measured from the earliest kept sample in the window. */
static void test_rate_long_window(void **state)
{
    (void)state;
    struct cg_alarms *a = engine("[{\"name\":\"rise\",\"kind\":\"rate_of_rise\",\"measurement\":\"water_level\","
                                 "\"field\":\"level\",\"rise\":50,\"window_s\":600}]",
                                 0);
    long n = 0;
    /* 0.05 cm/s: 30 cm per 600 s, never 50 */
    for (int t = 0; t <= 1200; t++) {
        reading(a, "b3", T0 + t * S, 100 + 0.05 * t);
    }
    free(lane_lines(a, &n));
    assert_int_equal(n, 0);
    /* then 0.1 cm/s: raised once the last 600 s hold 50 cm of rise */
    int raised_at = -1;
    for (int t = 1201; t <= 2400 && raised_at < 0; t++) {
        reading(a, "b3", T0 + t * S, 100 + 0.05 * 1200 + 0.1 * (t - 1200));
        char *l = lane_lines(a, &n);
        if (n > 0) {
            raised_at = t;
            assert_non_null(strstr(l, "state=raised"));
        }
        free(l);
    }
    /* over the whole window the rise is 0.05 * (t - 1200) + 30: 50 at t = 1600,
     * where the reference (a sample every 20 s) is exactly t - 600; a float
     * hair under 50 there moves it to the next reference, at most 1610 */
    assert_in_range(raised_at, 1600, 1610);
    cg_alarms_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conf_errors),
        cmocka_unit_test_setup_teardown(test_pending_recovered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_series, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rate_long_window, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
