/* include/citygate/backoff.h: exact sequences without jitter, bounds and
 * determinism (same seed, same delays) with jitter, reset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <citygate/backoff.h>

static void test_none_doubles_to_max(void **st)
{
    (void)st;
    struct cg_backoff b;
    cg_backoff_init(&b, 500, 30000, CG_BACKOFF_NONE, 1);
    const int64_t want[] = {500, 1000, 2000, 4000, 8000, 16000, 30000, 30000};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        assert_int_equal(cg_backoff_next(&b), want[i]);
    }
    cg_backoff_reset(&b);
    assert_int_equal(cg_backoff_next(&b), 500);
    /* bounds are repaired, and a huge attempt count does not overflow */
    cg_backoff_init(&b, 0, -5, CG_BACKOFF_NONE, 1);
    assert_int_equal(cg_backoff_next(&b), 1);
    assert_int_equal(cg_backoff_ceiling_ms(1, INT64_MAX, 1000), INT64_MAX);
    assert_int_equal(cg_backoff_ceiling_ms(3, 100, 5), 96);
}

static void test_full_jitter(void **st)
{
    (void)st;
    struct cg_backoff a, b;
    cg_backoff_init(&a, 100, 5000, CG_BACKOFF_FULL, 42);
    cg_backoff_init(&b, 100, 5000, CG_BACKOFF_FULL, 42);
    int64_t distinct = -1;
    int n_distinct = 0;
    for (unsigned i = 0; i < 200; i++) {
        int64_t ceil = cg_backoff_ceiling_ms(100, 5000, i);
        int64_t d = cg_backoff_next(&a);
        assert_int_equal(d, cg_backoff_next(&b)); /* same seed, same delays */
        assert_true(d >= 100 && d <= ceil);
        if (d != distinct) {
            n_distinct++;
            distinct = d;
        }
    }
    assert_true(n_distinct > 150); /* it does jitter */
    /* the pure form: both ends of the span */
    assert_int_equal(cg_backoff_full_ms(500, 60000, 3, 0), 500);
    assert_int_equal(cg_backoff_full_ms(500, 60000, 3, 3500), 4000);
}

static void test_decorrelated(void **st)
{
    (void)st;
    struct cg_backoff b;
    cg_backoff_init(&b, 200, 10000, CG_BACKOFF_DECORRELATED, 7);
    int64_t prev = 200;
    int hit_max = 0;
    for (int i = 0; i < 500; i++) {
        int64_t d = cg_backoff_next(&b);
        assert_true(d >= 200 && d <= 10000 && d <= prev * 3);
        hit_max += d > 5000;
        prev = d;
    }
    assert_true(hit_max > 0);
    cg_backoff_reset(&b);
    assert_true(cg_backoff_next(&b) <= 600);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_none_doubles_to_max),
        cmocka_unit_test(test_full_jitter),
        cmocka_unit_test(test_decorrelated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
