/* Journal: per-reader positions, commit/rewind, budget, back-pressure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "journal.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void append_lines_wait(struct cg_journal *j, int from, int n, int timeout_ms)
{
    char buf[4096];
    size_t len = 0;
    for (int i = from; i < from + n; i++) {
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "m v=%di %d\n", i, i);
    }
    assert_int_equal(cg_journal_append(j, buf, len, (uint32_t)n, timeout_ms), 0);
}

static void append_lines(struct cg_journal *j, int from, int n)
{
    append_lines_wait(j, from, n, 0);
}

static void test_two_readers_independent(void **state)
{
    (void)state;
    struct cg_journal *j = cg_journal_new(1 << 20, 2);
    append_lines(j, 0, 3);
    append_lines(j, 3, 2);
    struct cg_buf b;
    cg_buf_init(&b, 1 << 20);
    assert_int_equal(cg_journal_read(j, 0, &b, 4, 1 << 20), 4);
    assert_string_equal(b.data, "m v=0i 0\nm v=1i 1\nm v=2i 2\nm v=3i 3\n");
    /* not committed: a rewind gives the same lines again */
    cg_journal_rewind(j, 0);
    cg_buf_reset(&b);
    assert_int_equal(cg_journal_read(j, 0, &b, 2, 1 << 20), 2);
    assert_string_equal(b.data, "m v=0i 0\nm v=1i 1\n");
    cg_journal_commit(j, 0);
    struct cg_journal_reader_stats rs;
    cg_journal_reader_stats(j, 0, &rs);
    assert_int_equal(rs.unread_lines, 3);
    assert_int_equal(rs.committed_lines, 2);
    cg_journal_reader_stats(j, 1, &rs);
    assert_int_equal(rs.unread_lines, 5);
    assert_true(rs.oldest_unread_ns > 0);
    /* reader 1 sees everything from the start */
    cg_buf_reset(&b);
    assert_int_equal(cg_journal_read(j, 1, &b, 100, 1 << 20), 5);
    cg_journal_commit(j, 1);
    assert_int_equal(cg_journal_wait(j, 1, 1, 0), 0);
    assert_int_equal(cg_journal_wait(j, 0, 1, 0), 3);
    cg_buf_done(&b);
    cg_journal_free(j);
}

static void test_max_bytes_takes_whole_lines(void **state)
{
    (void)state;
    struct cg_journal *j = cg_journal_new(1 << 20, 1);
    append_lines(j, 0, 10); /* each line is 9..10 bytes */
    struct cg_buf b;
    cg_buf_init(&b, 1 << 20);
    assert_int_equal(cg_journal_read(j, 0, &b, 100, 25), 2);
    assert_int_equal(b.len, 18);
    cg_buf_reset(&b);
    /* at least one line even if it is over max_bytes */
    assert_int_equal(cg_journal_read(j, 0, &b, 100, 1), 1);
    cg_buf_done(&b);
    cg_journal_free(j);
}

static void test_budget_drops_only_for_laggard(void **state)
{
    (void)state;
    /* 10 lines of ~10 bytes per chunk; budget for about 3 chunks */
    struct cg_journal *j = cg_journal_new(300, 2);
    struct cg_buf b;
    cg_buf_init(&b, 1 << 20);
    for (int c = 0; c < 10; c++) {
        append_lines(j, c * 10, 10);
        /* reader 0 keeps up, reader 1 is dead */
        cg_buf_reset(&b);
        cg_journal_read(j, 0, &b, 1000, 1 << 20);
        cg_journal_commit(j, 0);
    }
    struct cg_journal_reader_stats r0, r1;
    cg_journal_reader_stats(j, 0, &r0);
    cg_journal_reader_stats(j, 1, &r1);
    assert_int_equal(r0.committed_lines, 100);
    assert_int_equal(r0.dropped_lines, 0);
    assert_true(r1.dropped_lines > 0);
    /* nothing lost unaccounted: dropped + still unread = all */
    assert_int_equal(r1.dropped_lines + r1.unread_lines, 100);
    /* the laggard resumes at the oldest chunk still held */
    cg_buf_reset(&b);
    long n = cg_journal_read(j, 1, &b, 1000, 1 << 20);
    assert_int_equal((uint64_t)n, r1.unread_lines);
    char want[32];
    snprintf(want, sizeof(want), "m v=%di ", (int)r1.dropped_lines);
    assert_memory_equal(b.data, want, strlen(want));
    cg_buf_done(&b);
    cg_journal_free(j);
}

static void test_backpressure_when_nobody_consumed(void **state)
{
    (void)state;
    struct cg_journal *j = cg_journal_new(90, 1);
    append_lines(j, 0, 9); /* 81 bytes */
    char line[] = "m v=1i 1\nm v=2i 2\n";
    assert_int_equal(cg_journal_append(j, line, strlen(line), 2, 0), -ETIMEDOUT);
    assert_int_equal(cg_journal_append(j, line, strlen(line), 2, 50), -ETIMEDOUT);
    struct cg_journal_stats st;
    cg_journal_stats(j, &st);
    assert_int_equal(st.refused, 2);
    assert_int_equal(st.lines, 9);
    /* bigger than the whole budget */
    char big[100];
    memset(big, 'x', sizeof(big));
    big[99] = '\n';
    assert_int_equal(cg_journal_append(j, big, sizeof(big), 1, 0), -EMSGSIZE);
    cg_journal_free(j);
}

struct consumer {
    struct cg_journal *j;
    long got;
};

static void *consume(void *arg)
{
    struct consumer *c = arg;
    struct cg_buf b;
    cg_buf_init(&b, 1 << 20);
    usleep(100 * 1000);
    while (c->got < 19) {
        long n = cg_journal_wait(c->j, 0, 1, 1000);
        if (n <= 0) {
            break;
        }
        cg_buf_reset(&b);
        c->got += cg_journal_read(c->j, 0, &b, 1000, 1 << 20);
        cg_journal_commit(c->j, 0);
    }
    cg_buf_done(&b);
    return NULL;
}

static void test_blocked_producer_resumes_after_commit(void **state)
{
    (void)state;
    struct cg_journal *j = cg_journal_new(100, 1);
    append_lines(j, 0, 9);
    struct consumer c = {j, 0};
    pthread_t t;
    pthread_create(&t, NULL, consume, &c);
    char lines[64];
    int len = snprintf(lines, sizeof(lines), "m v=9i 9\nm v=10i 10\n");
    /* waits (no timeout) until the consumer commits, then succeeds */
    assert_int_equal(cg_journal_append(j, lines, (size_t)len, 2, -1), 0);
    append_lines_wait(j, 11, 8, -1); /* the consumer may not have caught up yet */
    pthread_join(t, NULL);
    assert_int_equal(c.got, 19);
    cg_journal_free(j);
}

static void test_shutdown(void **state)
{
    (void)state;
    struct cg_journal *j = cg_journal_new(1000, 1);
    append_lines(j, 0, 1);
    cg_journal_shutdown(j);
    assert_int_equal(cg_journal_append(j, "m v=1i 1\n", 9, 1, 0), -ESHUTDOWN);
    /* what is unread can still be read after shutdown */
    assert_int_equal(cg_journal_wait(j, 0, 5, -1), 1);
    struct cg_buf b;
    cg_buf_init(&b, 1000);
    assert_int_equal(cg_journal_read(j, 0, &b, 10, 1000), 1);
    assert_int_equal(cg_journal_wait(j, 0, 1, -1), -ESHUTDOWN);
    cg_buf_done(&b);
    cg_journal_free(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_readers_independent),
        cmocka_unit_test(test_max_bytes_takes_whole_lines),
        cmocka_unit_test(test_budget_drops_only_for_laggard),
        cmocka_unit_test(test_backpressure_when_nobody_consumed),
        cmocka_unit_test(test_blocked_producer_resumes_after_commit),
        cmocka_unit_test(test_shutdown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
