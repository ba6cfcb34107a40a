/* Health rules: each reason a gateway is "degraded", its threshold on both
 * sides, and the process figures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "http_status.h"
#include "status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S(x) ((int64_t)(x) * 1000000000LL)
#define T0 S(1700000000)

struct fx {
    struct cg_status st;
    struct cg_status_source src;
    struct cg_status_device dev;
    struct cg_status_output out;
};

/* A healthy gateway, 1 h after start, one device, one output (not heap:
 * never passed to cg_status_done). */
static void healthy(struct fx *f)
{
    memset(f, 0, sizeof(*f));
    f->st.started_ns = T0;
    f->st.now_ns = T0 + S(3600);
    f->st.journal.max_bytes = 1000;
    f->st.journal.bytes = 100;
    snprintf(f->src.name, sizeof(f->src.name), "bus1");
    snprintf(f->dev.name, sizeof(f->dev.name), "meter-3");
    f->dev.up = true;
    f->src.devices = &f->dev;
    f->src.n_devices = 1;
    f->st.sources = &f->src;
    f->st.n_sources = 1;
    snprintf(f->out.name, sizeof(f->out.name), "db");
    f->out.st.up = true;
    f->out.st.requests = 10;
    f->out.st.last_ok_ns = f->st.now_ns - S(1);
    f->st.outputs = &f->out;
    f->st.n_outputs = 1;
}

static void check(const struct fx *f, bool want_ok, const char *want_reasons)
{
    char r[1024];
    bool ok = cg_status_healthy(&f->st, r, sizeof(r));
    assert_string_equal(r, want_reasons);
    assert_int_equal(ok, want_ok);
}

static void test_healthy(void **state)
{
    struct fx f;
    healthy(&f);
    check(&f, true, "");
    f.out.st.requests = 0; /* never tried (no data yet): idle, not down */
    f.out.st.up = false;
    f.out.st.last_ok_ns = 0;
    check(&f, true, "");
    /* NULL reasons buffer is allowed */
    assert_true(cg_status_healthy(&f.st, NULL, 0));
}

static void test_output_down(void **state)
{
    struct fx f;
    healthy(&f);
    f.out.st.up = false;
    f.out.st.last_status = 503;
    snprintf(f.out.st.last_error, sizeof(f.out.st.last_error), "Service Unavailable");
    f.out.st.last_ok_ns = f.st.now_ns - S(60);
    check(&f, true, "");
    f.out.st.last_ok_ns = f.st.now_ns - S(61);
    check(&f, false, "output db down for 61 s (last status 503: Service Unavailable)\n");
    /* never succeeded: counted from the start */
    f.out.st.last_ok_ns = 0;
    f.st.now_ns = T0 + S(30);
    check(&f, true, "");
    f.st.now_ns = T0 + S(90);
    f.out.st.last_status = 0;
    f.out.st.last_error[0] = '\0';
    check(&f, false, "output db down for 90 s (last status 0)\n");
}

static void test_lines_waiting(void **state)
{
    struct fx f;
    healthy(&f);
    f.out.st.journal_unread_lines = 42;
    f.out.st.last_ok_ns = f.st.now_ns - S(300);
    check(&f, true, "");
    f.out.st.last_ok_ns = f.st.now_ns - S(301);
    check(&f, false, "output db has 42 lines waiting for up to 301 s\n");
    assert_int_equal(cg_status_oldest_unsent_s(&f.st, &f.out), 301);
    f.out.st.journal_unread_lines = 0;
    assert_int_equal(cg_status_oldest_unsent_s(&f.st, &f.out), 0);
    check(&f, true, "");
}

static void test_device(void **state)
{
    struct fx f;
    healthy(&f);
    f.dev.up = false;
    check(&f, false, "device bus1/meter-3 down\n");
    snprintf(f.dev.last_error, sizeof(f.dev.last_error), "Connection timed out");
    check(&f, false, "device bus1/meter-3 down: Connection timed out\n");
    f.dev.quarantined = true;
    f.dev.consecutive_failures = 12;
    check(&f, false, "device bus1/meter-3 quarantined after 12 failures: Connection timed out\n");
}

static void test_buffer(void **state)
{
    struct fx f;
    healthy(&f);
    f.st.journal.bytes = 800; /* exactly 80 %: still ok */
    check(&f, true, "");
    f.st.journal.bytes = 801;
    check(&f, false, "buffer 80 % full (801 of 1000 bytes)\n");
    f.st.journal.max_bytes = 0; /* unknown capacity: no verdict */
    check(&f, true, "");
}

static void test_refusals(void **state)
{
    struct fx f;
    healthy(&f);
    f.src.counters.points_refused = 5;
    check(&f, false, "readings refused because the buffer is full (5 so far)\n");
    /* another reader a moment later sees the same verdict */
    f.st.now_ns += S(10);
    check(&f, false, "readings refused because the buffer is full (5 so far)\n");
    /* no new refusals for a minute: healthy again */
    f.st.now_ns += S(51);
    check(&f, true, "");
    f.st.journal.refused = 1;
    check(&f, false, "readings refused because the buffer is full (6 so far)\n");
    f.st.now_ns += S(61);
    check(&f, true, "");
    /* counters restarted (reload): remembers nothing stale */
    f.src.counters.points_refused = 0;
    f.st.journal.refused = 0;
    check(&f, true, "");
}

static void test_several_and_truncation(void **state)
{
    struct fx f;
    healthy(&f);
    f.dev.up = false;
    f.st.journal.bytes = 900;
    check(&f, false, "device bus1/meter-3 down\nbuffer 90 % full (900 of 1000 bytes)\n");
    char small[16];
    assert_false(cg_status_healthy(&f.st, small, sizeof(small)));
    assert_string_equal(small, "device bus1/met");
}

static void test_process(void **state)
{
    struct cg_status st;
    memset(&st, 0, sizeof(st));
    volatile double x = 0;
    for (int i = 0; i < 2000000; i++) {
        x += i * 0.5;
    }
    cg_status_add_process(&st);
    assert_true(st.rss_bytes > 1024 * 1024);
    assert_true(st.cpu_user_s + st.cpu_system_s > 0);
    cg_status_done(&st);
    cg_status_done(NULL);
}

static void test_done_frees(void **state)
{
    struct cg_status st;
    memset(&st, 0, sizeof(st));
    st.sources = calloc(2, sizeof(*st.sources));
    st.n_sources = 2;
    st.sources[1].devices = calloc(3, sizeof(*st.sources[1].devices));
    st.sources[1].n_devices = 3;
    st.outputs = calloc(1, sizeof(*st.outputs));
    st.n_outputs = 1;
    cg_status_done(&st); /* ASan reports a leak otherwise */
    assert_null(st.sources);
    assert_int_equal(st.n_outputs, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_healthy),  cmocka_unit_test(test_output_down),
        cmocka_unit_test(test_lines_waiting), cmocka_unit_test(test_device),
        cmocka_unit_test(test_buffer),   cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_several_and_truncation), cmocka_unit_test(test_process),
        cmocka_unit_test(test_done_frees),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
