/* Request planning: merging, limits, gaps, forbidden addresses, quirks. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "plan.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define H CG_MB_HOLDING
#define I CG_MB_INPUT
#define C CG_MB_COIL

static const struct cg_mb_plan_limits lim_default = {.max_regs = 125, .max_bits = 2000};

static void expect_req(const struct cg_mb_plan *p, size_t i, enum cg_mb_table t, uint32_t addr, uint32_t count)
{
    assert_true(i < p->n_req);
    assert_int_equal(p->req[i].table, t);
    assert_int_equal(p->req[i].address, addr);
    assert_int_equal(p->req[i].count, count);
}

static void test_contiguous_merge(void **state)
{
    (void)state;
    /* unsorted on purpose; two tables never share a read */
    const struct cg_mb_span s[] = {{H, 4, 2, 0}, {H, 0, 2, 0}, {H, 2, 2, 0}, {I, 0, 2, 0}, {I, 2, 1, 0}};
    struct cg_mb_plan p;
    assert_int_equal(cg_mb_plan_build(s, N(s), NULL, 0, &lim_default, &p, NULL), 0);
    assert_int_equal(p.n_req, 2);
    expect_req(&p, 0, I, 0, 3);
    expect_req(&p, 1, H, 0, 6);
    assert_int_equal(p.req_of[0], 1);
    assert_int_equal(p.req_of[3], 0);
    assert_int_equal(p.units_read, 9);
    assert_int_equal(p.units_wanted, 9);
    cg_mb_plan_done(&p);
    cg_mb_plan_done(&p); /* idempotent */
}

static void test_gaps(void **state)
{
    (void)state;
    const struct cg_mb_span s[] = {{H, 0, 2, 0}, {H, 6, 2, 0}, {H, 20, 2, 0}};
    struct cg_mb_plan_limits lim = lim_default;
    struct cg_mb_plan p;
    assert_int_equal(cg_mb_plan_build(s, N(s), NULL, 0, &lim, &p, NULL), 0);
    assert_int_equal(p.n_req, 3); /* default: no bridging */
    cg_mb_plan_done(&p);
    lim.max_gap_regs = 4;
    assert_int_equal(cg_mb_plan_build(s, N(s), NULL, 0, &lim, &p, NULL), 0);
    assert_int_equal(p.n_req, 2);
    expect_req(&p, 0, H, 0, 8);
    expect_req(&p, 1, H, 20, 2);
    assert_int_equal(p.units_read, 10);
    assert_int_equal(p.units_wanted, 6);
    cg_mb_plan_done(&p);
    lim.max_gap_regs = 12;
    assert_int_equal(cg_mb_plan_build(s, N(s), NULL, 0, &lim, &p, NULL), 0);
    assert_int_equal(p.n_req, 1);
    expect_req(&p, 0, H, 0, 22);
    cg_mb_plan_done(&p);
}

static void test_forbidden_never_read(void **state)
{
    (void)state;
    const struct cg_mb_span s[] = {{H, 0, 2, 0}, {H, 6, 2, 0}, {H, 10, 2, 0}};
    const struct cg_mb_forbid f[] = {{H, 8, 8}, {I, 3, 3}};
    struct cg_mb_plan_limits lim = lim_default;
    lim.max_gap_regs = 100;
    struct cg_mb_plan p;
    assert_int_equal(cg_mb_plan_build(s, N(s), f, N(f), &lim, &p, NULL), 0);
    assert_int_equal(p.n_req, 2);
    expect_req(&p, 0, H, 0, 8);
    expect_req(&p, 1, H, 10, 2);
    for (size_t i = 0; i < p.n_req; i++) {
        assert_false(p.req[i].address <= 8 && p.req[i].address + p.req[i].count > 8);
    }
    cg_mb_plan_done(&p);
    /* a field on a forbidden address is a config error, reported by index */
    const struct cg_mb_span bad[] = {{H, 0, 2, 0}, {H, 7, 2, 0}};
    size_t which = 99;
    assert_int_equal(cg_mb_plan_build(bad, N(bad), f, N(f), &lim, &p, &which), -EPERM);
    assert_int_equal(which, 1);
    assert_null(p.req);
}

static void test_limits(void **state)
{
    (void)state;
    /* 100 float32 in a row: 200 registers, protocol max 125 per read */
    struct cg_mb_span s[100];
    for (unsigned i = 0; i < 100; i++) {
        s[i] = (struct cg_mb_span){I, 2 * i, 2, 0};
    }
    struct cg_mb_plan_limits lim = lim_default;
    struct cg_mb_plan p;
    assert_int_equal(cg_mb_plan_build(s, 100, NULL, 0, &lim, &p, NULL), 0);
    assert_int_equal(p.n_req, 2);
    expect_req(&p, 0, I, 0, 124); /* a float is never split across reads */
    expect_req(&p, 1, I, 124, 76);
    cg_mb_plan_done(&p);
    lim.max_regs = 40; /* device quirk */
    assert_int_equal(cg_mb_plan_build(s, 100, NULL, 0, &lim, &p, NULL), 0);
    assert_int_equal(p.n_req, 5);
    for (size_t i = 0; i < p.n_req; i++) {
        assert_true(p.req[i].count <= 40);
    }
    cg_mb_plan_done(&p);
    lim.one_per_field = true;
    assert_int_equal(cg_mb_plan_build(s, 100, NULL, 0, &lim, &p, NULL), 0);
    assert_int_equal(p.n_req, 100);
    cg_mb_plan_done(&p);
    /* a string longer than a read is refused */
    const struct cg_mb_span big[] = {{H, 0, 2, 0}, {H, 10, 41, 0}};
    lim.one_per_field = false;
    size_t which = 0;
    assert_int_equal(cg_mb_plan_build(big, N(big), NULL, 0, &lim, &p, &which), -E2BIG);
    assert_int_equal(which, 1);
    const struct cg_mb_span past[] = {{H, 65535, 2, 0}};
    assert_int_equal(cg_mb_plan_build(past, N(past), NULL, 0, &lim, &p, &which), -ERANGE);
    const struct cg_mb_span last[] = {{H, 65534, 2, 0}};
    assert_int_equal(cg_mb_plan_build(last, N(last), NULL, 0, &lim, &p, &which), 0);
    cg_mb_plan_done(&p);
}

static void test_bits_and_shared_registers(void **state)
{
    (void)state;
    struct cg_mb_span s[2100];
    for (unsigned i = 0; i < 2100; i++) {
        s[i] = (struct cg_mb_span){C, i, 1, 0};
    }
    struct cg_mb_plan_limits lim = lim_default;
    struct cg_mb_plan p;
    assert_int_equal(cg_mb_plan_build(s, 2100, NULL, 0, &lim, &p, NULL), 0);
    assert_int_equal(p.n_req, 2);
    expect_req(&p, 0, C, 0, 2000);
    cg_mb_plan_done(&p);
    /* three bit fields of one status register + overlapping views: one read,
     * even with one_request_per_field for the identical footprints */
    const struct cg_mb_span st[] = {{H, 7, 1, 0}, {H, 7, 1, 0}, {H, 7, 1, 0}, {H, 6, 2, 0}};
    assert_int_equal(cg_mb_plan_build(st, N(st), NULL, 0, &lim, &p, NULL), 0);
    assert_int_equal(p.n_req, 1);
    expect_req(&p, 0, H, 6, 2);
    assert_int_equal(p.units_wanted, 2);
    cg_mb_plan_done(&p);
    lim.one_per_field = true;
    assert_int_equal(cg_mb_plan_build(st, N(st), NULL, 0, &lim, &p, NULL), 0);
    assert_int_equal(p.n_req, 2);
    cg_mb_plan_done(&p);
    assert_int_equal(cg_mb_plan_build(NULL, 0, NULL, 0, &lim, &p, NULL), 0);
    assert_int_equal(p.n_req, 0);
}

/* Poll groups: reads never merge across groups, even when contiguous; each
 * read carries its group. */
static void test_groups_do_not_merge(void **state)
{
    (void)state;
    const struct cg_mb_span s[] = {{I, 0, 2, 0}, {I, 2, 2, 1}, {I, 4, 2, 0}, {I, 6, 2, 1}};
    struct cg_mb_plan p;
    struct cg_mb_plan_limits lim = lim_default;
    lim.max_gap_regs = 2; /* each group bridges the hole the other group's registers leave */
    assert_int_equal(cg_mb_plan_build(s, N(s), NULL, 0, &lim, &p, NULL), 0);
    assert_int_equal(p.n_req, 2);
    expect_req(&p, 0, I, 0, 6);
    assert_int_equal(p.req[0].group, 0);
    expect_req(&p, 1, I, 2, 6);
    assert_int_equal(p.req[1].group, 1);
    cg_mb_plan_done(&p);
    assert_int_equal(cg_mb_plan_build(s, N(s), NULL, 0, &lim_default, &p, NULL), 0);
    assert_int_equal(p.n_req, 4);
    expect_req(&p, 0, I, 0, 2);
    expect_req(&p, 1, I, 4, 2);
    expect_req(&p, 2, I, 2, 2);
    assert_int_equal(p.req[2].group, 1);
    expect_req(&p, 3, I, 6, 2);
    assert_int_equal(p.req_of[1], 2);
    assert_int_equal(p.units_read, 8);
    assert_int_equal(p.units_wanted, 8);
    cg_mb_plan_done(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contiguous_merge),     cmocka_unit_test(test_gaps),
        cmocka_unit_test(test_forbidden_never_read), cmocka_unit_test(test_limits),
        cmocka_unit_test(test_bits_and_shared_registers), cmocka_unit_test(test_groups_do_not_merge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
