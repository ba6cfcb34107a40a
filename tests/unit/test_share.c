/* Data-sharing agreements (gateway/share.c) on a memory journal: selection
 * and privacy byte for byte (HMAC against a published test vector), config
 * errors with their paths, and aggregation under replay: a restart from a
 * commit that lies inside an already-sent window must not send that window
 * again from part of its lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "journal.h"
#include "share.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <errno.h>

static struct cg_share_conf *conf_of(const char *json)
{
    cJSON *obj = cJSON_Parse(json);
    assert_non_null(obj);
    struct cg_errs errs = {0};
    struct cg_share_conf *c = NULL;
    int rc = cg_share_conf_parse(obj, "outputs[0].agreement", &c, &errs);
    if (rc != 0) {
        fail_msg("%s", errs.n ? errs.msg[0] : "?");
    }
    cg_errs_done(&errs);
    cJSON_Delete(obj);
    return c;
}

static void append(struct cg_journal *j, const char *lines)
{
    uint32_t n = 0;
    for (const char *p = lines; *p; p++) {
        n += *p == '\n';
    }
    assert_int_equal(cg_journal_append(j, lines, strlen(lines), n, 0), 0);
}

static void test_select_and_privacy(void **state)
{
    (void)state;
    char dir[] = "/tmp/cgshare.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char key[300];
    snprintf(key, sizeof(key), "%s/k", dir);
    FILE *f = fopen(key, "w");
    fputs("key\n", f); /* the trailing newline is not part of the key */
    fclose(f);
    chmod(key, 0600);
    char json[1024];
    snprintf(json, sizeof(json),
             "{\"measurements\":{\"include\":[\"air*\"],\"exclude\":[\"air_debug\"]},"
             "\"fields\":{\"exclude\":[\"rssi\"]},\"tags\":{\"exclude\":[\"serial\"]},"
             "\"quality\":{\"exclude\":[\"impossible\"]},\"hash_tags\":[\"sensor\"],\"hash_key_file\":\"%s\","
             "\"coarsen_tags\":{\"geohash\":{\"keep_chars\":4},\"site\":{\"map\":{\"a b\":\"north, east\"}}}}",
             key);
    struct cg_share_conf *c = conf_of(json);
    struct cg_journal *j = cg_journal_new(1 << 20, 1);
    struct cg_share *s = cg_share_new(c, "region", dir, key, sizeof(key));
    assert_non_null(s);
    /* HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog") =
     * f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8 */
    append(j, "air,geohash=tp5myz,sensor=The\\ quick\\ brown\\ fox\\ jumps\\ over\\ the\\ lazy\\ dog,serial=9,"
              "site=a\\ b pm=1.5,rssi=-70i,msg=\"x, y\" 100\n"
              "air_debug,sensor=x v=1 100\n"
              "water,sensor=x v=1 100\n"
              "air,quality=impossible,sensor=x pm=1 100\n"
              "air,site=other rssi=-70i 100\n"
              "air,geohash=u,site=other pm=2i 200\n"
              "air,geohash=ab\\\\cd pm=3 300\n"
              "not line protocol\n");
    struct cg_buf b;
    cg_buf_init(&b, 1 << 20);
    size_t lines = 0;
    assert_int_equal(cg_share_fill(s, j, 0, &b, &lines, 100, 1 << 20), 8);
    assert_string_equal(b.data, "air,geohash=tp5m,sensor=f7bc83f430538424,site=north\\,\\ east pm=1.5,msg=\"x, y\" 100\n"
                                "air,geohash=u pm=2i 200\n"
                                "air,geohash=ab pm=3 300\n");
    assert_int_equal(lines, 3);
    struct cg_share_stats st;
    cg_share_get_stats(s, &st);
    assert_int_equal(st.lines_filtered, 4);
    assert_int_equal(st.lines_refused, 1);
    assert_int_equal(cg_share_commit(s, j, 0), 0);
    struct cg_journal_reader_stats rs;
    cg_journal_reader_stats(j, 0, &rs);
    assert_int_equal(rs.unread_lines, 0);
    cg_buf_done(&b);
    cg_share_free(s);
    cg_share_conf_free(c);
    cg_journal_free(j);
    unlink(key);
    rmdir(dir);
}

static void expect_error(const char *json, const char *want)
{
    cJSON *obj = cJSON_Parse(json);
    struct cg_errs errs = {0};
    struct cg_share_conf *c = NULL;
    assert_int_equal(cg_share_conf_parse(obj, "outputs[1].agreement", &c, &errs), -EINVAL);
    assert_null(c);
    bool found = false;
    for (size_t i = 0; i < errs.n; i++) {
        found = found || strcmp(errs.msg[i], want) == 0;
    }
    if (!found) {
        fail_msg("want '%s', got '%s'", want, errs.n ? errs.msg[0] : "(none)");
    }
    cg_errs_done(&errs);
    cJSON_Delete(obj);
}

static void test_conf_errors(void **state)
{
    (void)state;
    expect_error("{\"hash_tags\":[\"sensor\"]}", "outputs[1].agreement.hash_tags: needs hash_key (or hash_key_file)");
    expect_error("{\"fields\":{\"include\":[\"a\"],\"only\":[]}}",
                 "outputs[1].agreement.fields.only: unknown key (include or exclude)");
    expect_error("{\"aggregate\":{}}", "outputs[1].agreement.aggregate.window_s: missing (required)");
    expect_error("{\"coarsen_tags\":{\"gh\":{\"keep_chars\":0}}}",
                 "outputs[1].agreement.coarsen_tags.gh.keep_chars: must be an integer 1..1024");
    expect_error("{\"coarsen_tags\":{\"gh\":{\"keep_chars\":3,\"map\":{\"a\":\"b\"}}}}",
                 "outputs[1].agreement.coarsen_tags.gh: give exactly one of keep_chars and map");
    expect_error("{\"measurement\":{}}", "outputs[1].agreement.measurement: unknown key (did you mean 'measurements'?)");
}

/* Series a, b, c interleaved, one line per series per 60 s of data time,
 * window 300 s; value = line number. */
static void gen(struct cg_buf *out, int from, int to)
{
    const char *series[] = {"a", "b", "c"};
    for (int i = from; i < to; i++) {
        for (int k = 0; k < 3; k++) {
            cg_buf_printf(out, "m,s=%s v=%di %lld\n", series[k], i * 3 + k, (long long)(i * 60 + k) * 1000000000LL);
        }
    }
}

/* Runs lines through a share in reads of `step` raw lines, committing after
 * each; with crash_after > 0 the share is thrown away (no commit) after that
 * many reads and a new one recovers from the journal and the marks file.
 * Every emitted line is kept by its series and time (a database overwrites). */
static void run(const char *dir, int step, int crash_after, char *result, size_t n)
{
    struct cg_share_conf *c = conf_of("{\"aggregate\":{\"window_s\":300,\"window_grace_s\":3600}}");
    struct cg_journal *j = cg_journal_new(1 << 22, 1);
    struct cg_buf lines, out;
    cg_buf_init(&lines, 1 << 22);
    cg_buf_init(&out, 1 << 22);
    gen(&lines, 0, 40);
    append(j, lines.data);
    char err[300];
    char marks[300];
    snprintf(marks, sizeof(marks), "%s/share-r.marks", dir);
    unlink(marks);
    struct cg_share *s = cg_share_new(c, "r", dir, err, sizeof(err));
    assert_non_null(s);
    size_t nl = 0;
    int reads = 0;
    for (;;) {
        long got = cg_share_fill(s, j, 0, &out, &nl, (size_t)step, 1 << 22);
        if (got <= 0) {
            break;
        }
        if (++reads == crash_after) {
            /* killed before this batch was delivered and committed */
            cg_share_free(s);
            cg_journal_rewind(j, 0); /* a restart reads from the last commit */
            s = cg_share_new(c, "r", dir, err, sizeof(err));
            assert_non_null(s);
            continue;
        }
        assert_int_equal(cg_share_commit(s, j, 0), 0);
    }
    /* the last window of each series stays open (window_grace_s is an hour):
     * share_agreement.sh covers windows closed by the grace */
    /* keep the last line per "series time" */
    char *keys[64] = {0}, *vals[64] = {0};
    size_t nk = 0;
    for (char *p = out.data, *e; p && *p; p = e ? e + 1 : NULL) {
        e = strchr(p, '\n');
        if (e) {
            *e = '\0';
        }
        char *sp1 = strchr(p, ' '), *sp2 = strrchr(p, ' ');
        char k[128];
        snprintf(k, sizeof(k), "%.*s%s", (int)(sp1 - p), p, sp2);
        size_t i = 0;
        while (i < nk && strcmp(keys[i], k) != 0) {
            i++;
        }
        if (i == nk) {
            keys[nk++] = strdup(k);
        }
        free(vals[i]);
        vals[i] = strdup(p);
    }
    result[0] = '\0';
    for (size_t i = 0; i < nk; i++) {
        size_t l = strlen(result);
        snprintf(result + l, n - l, "%s\n", vals[i]);
        free(keys[i]);
        free(vals[i]);
    }
    cg_share_free(s);
    cg_share_conf_free(c);
    cg_journal_free(j);
    cg_buf_done(&lines);
    cg_buf_done(&out);
    unlink(marks);
}

/* Per output, the configured tags are the user's: gateway removed (tags
 * exclude) or renamed, and a renamed key moves to its sorted place, so the
 * series key is what the encoder would have written under that name. */
static void test_rename_and_remove_tags(void **state)
{
    (void)state;
    struct cg_share_conf *c =
        conf_of("{\"tags\":{\"exclude\":[\"city\"]},\"rename_tags\":{\"gateway\":\"cabinet\",\"device\":\"z dev\"}}");
    struct cg_journal *j = cg_journal_new(1 << 20, 1);
    char err[256];
    struct cg_share *s = cg_share_new(c, "region", "/tmp", err, sizeof(err));
    assert_non_null(s);
    append(j, "air,city=tashkent,device=aq1,district=north,gateway=gw7 pm=1.5 100\n"
              "air,district=south pm=2 200\n");
    struct cg_buf b;
    cg_buf_init(&b, 1 << 20);
    size_t lines = 0;
    assert_int_equal(cg_share_fill(s, j, 0, &b, &lines, 100, 1 << 20), 2);
    assert_string_equal(b.data, "air,cabinet=gw7,district=north,z\\ dev=aq1 pm=1.5 100\n"
                                "air,district=south pm=2 200\n");
    cg_buf_done(&b);
    cg_share_free(s);
    cg_share_conf_free(c);
    cg_journal_free(j);
    expect_error("{\"rename_tags\":{\"gateway\":\"gateway\"}}",
                 "outputs[1].agreement.rename_tags.gateway: must be a different tag key (not empty, no leading '_', "
                 "newline or backslash)");
    expect_error("{\"rename_tags\":{\"a\":\"x\",\"b\":\"x\"}}",
                 "outputs[1].agreement.rename_tags.b: 'x' is already the new name of 'a'");
    expect_error("{\"rename_tags\":{\"a\":1}}", "outputs[1].agreement.rename_tags.a: must be a string");
}

static void test_aggregate_replay(void **state)
{
    (void)state;
    char dir[] = "/tmp/cgshare.XXXXXX";
    assert_non_null(mkdtemp(dir));
    static char want[16384], got[16384];
    run(dir, 1000, 0, want, sizeof(want));
    /* 40 lines per series at 60 s in 300 s windows: 8 windows x 3 series,
     * the last one of each still open */
    size_t lines = 0;
    for (char *p = want; *p; p++) {
        lines += *p == '\n';
    }
    assert_int_equal(lines, 21);
    /* series a, window 0: lines 0,3,6,9,12 -> mean 6, min 0, max 12, count 5 */
    assert_non_null(strstr(want, "m,s=a v_mean=6,v_min=0,v_max=12,v_count=5i 0\n"));
    assert_non_null(strstr(want, "m,s=c v_mean=98,v_min=92,v_max=104,v_count=5i 1800000000000\n"));
    /* crash points all through the stream, reads of 4 lines so that commits
     * fall inside windows that were already sent */
    for (int crash = 1; crash < 30; crash++) {
        run(dir, 4, crash, got, sizeof(got));
        if (strcmp(got, want) != 0) {
            fail_msg("crash after read %d:\n got\n%s want\n%s", crash, got, want);
        }
    }
    rmdir(dir);
}

/* A reading delivered twice (MQTT QoS 1 redelivery after a kill) is one
 * point in the database, and one reading in its window. */
static void test_aggregate_duplicate(void **state)
{
    (void)state;
    char dir[] = "/tmp/cgshare.XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct cg_share_conf *c = conf_of("{\"aggregate\":{\"window_s\":60}}");
    struct cg_journal *j = cg_journal_new(1 << 20, 1);
    char err[300];
    struct cg_share *s = cg_share_new(c, "d", dir, err, sizeof(err));
    assert_non_null(s);
    append(j, "m v=1 1000000000\nm v=3 2000000000\nm v=1 1000000000\nm v=5 61000000000\nm v=9 1000000000\n");
    struct cg_buf b;
    cg_buf_init(&b, 1 << 20);
    size_t n = 0;
    assert_int_equal(cg_share_fill(s, j, 0, &b, &n, 100, 1 << 20), 5);
    assert_string_equal(b.data, "m v_mean=2,v_min=1,v_max=3,v_count=2i 0\n");
    struct cg_share_stats st;
    cg_share_get_stats(s, &st);
    assert_int_equal(st.lines_duplicate, 1);
    assert_int_equal(st.lines_late, 1);
    assert_int_equal(cg_share_commit(s, j, 0), 0);
    char marks[300];
    snprintf(marks, sizeof(marks), "%s/share-d.marks", dir);
    FILE *f = fopen(marks, "r");
    assert_non_null(f);
    char line[100] = "";
    assert_non_null(fgets(line, sizeof(line), f));
    fclose(f);
    assert_string_equal(line, "0 m\n");
    cg_buf_done(&b);
    cg_share_free(s);
    cg_share_conf_free(c);
    cg_journal_free(j);
    unlink(marks);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_select_and_privacy),
        cmocka_unit_test(test_conf_errors),
        cmocka_unit_test(test_rename_and_remove_tags),
        cmocka_unit_test(test_aggregate_replay),
        cmocka_unit_test(test_aggregate_duplicate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
