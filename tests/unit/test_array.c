/* cg_array_grow: doubling, the hard maximum, overflow of count * size, NULL start. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <citygate/array.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>

static void test_null_start(void **state)
{
    (void)state;
    int *a = NULL;
    size_t cap = 0;
    assert_int_equal(cg_array_grow((void **)&a, &cap, 1, sizeof(*a), 1000), 0);
    assert_non_null(a);
    assert_int_equal(cap, CG_ARRAY_MIN_ELEMS);
    a[0] = 7;
    /* already fits: nothing moves */
    int *before = a;
    assert_int_equal(cg_array_grow((void **)&a, &cap, CG_ARRAY_MIN_ELEMS, sizeof(*a), 1000), 0);
    assert_ptr_equal(a, before);
    assert_int_equal(cap, CG_ARRAY_MIN_ELEMS);
    free(a);
}

static void test_doubles_and_keeps_contents(void **state)
{
    (void)state;
    int *a = NULL;
    size_t cap = 0;
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(cg_array_grow((void **)&a, &cap, (size_t)i + 1, sizeof(*a), 100000), 0);
        a[i] = i;
    }
    assert_int_equal(cap, 1024); /* 4 doubled eight times */
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(a[i], i);
    }
    /* a jump past twice the capacity lands on the next doubling that holds it */
    assert_int_equal(cg_array_grow((void **)&a, &cap, 5000, sizeof(*a), 100000), 0);
    assert_int_equal(cap, 8192);
    free(a);
}

static void test_max_reached(void **state)
{
    (void)state;
    char *a = NULL;
    size_t cap = 0;
    /* the last doubling is clamped to the maximum, not past it */
    assert_int_equal(cg_array_grow((void **)&a, &cap, 90, 1, 100), 0);
    assert_int_equal(cap, 100);
    assert_int_equal(cg_array_grow((void **)&a, &cap, 100, 1, 100), 0);
    assert_int_equal(cap, 100);
    char *before = a;
    assert_int_equal(cg_array_grow((void **)&a, &cap, 101, 1, 100), -E2BIG);
    assert_ptr_equal(a, before); /* untouched on failure */
    assert_int_equal(cap, 100);
    free(a);
    /* a maximum below the first allocation is honoured too */
    a = NULL;
    cap = 0;
    assert_int_equal(cg_array_grow((void **)&a, &cap, 2, 1, 3), 0);
    assert_int_equal(cap, 3);
    free(a);
}

static void test_overflow(void **state)
{
    (void)state;
    uint64_t *a = NULL;
    size_t cap = 0;
    /* need * elem_size overflows size_t: refused before realloc, nothing allocated */
    assert_int_equal(cg_array_grow((void **)&a, &cap, SIZE_MAX / 4, sizeof(*a), SIZE_MAX), -ENOMEM);
    assert_null(a);
    assert_int_equal(cap, 0);
    /* the maximum is clamped to what size_t can address: one past it is refused */
    assert_int_equal(cg_array_grow((void **)&a, &cap, SIZE_MAX / sizeof(*a) + 1, sizeof(*a), SIZE_MAX), -ENOMEM);
    assert_null(a);
    /* zero-sized elements cannot be sized */
    assert_int_equal(cg_array_grow((void **)&a, &cap, 1, 0, 10), -ENOMEM);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_null_start),
        cmocka_unit_test(test_doubles_and_keeps_contents),
        cmocka_unit_test(test_max_reached),
        cmocka_unit_test(test_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
