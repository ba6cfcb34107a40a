/* Reply validation (frame.c): every field of an answer is checked against its
 * request before anything is decoded. Table-driven. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "frame.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* RTU frame from bytes without CRC: appends it */
static size_t rtu(uint8_t *out, const uint8_t *body, size_t n)
{
    memcpy(out, body, n);
    uint16_t crc = cg_mb_crc16(out, n);
    out[n] = (uint8_t)crc;
    out[n + 1] = (uint8_t)(crc >> 8);
    return n + 2;
}

static void test_request_frames(void **state)
{
    (void)state;
    struct cg_mb_expect e;
    uint8_t f[CG_MB_FRAME_MAX];
    cg_mb_expect_init(&e, true, 0, 1, 3, 0, 2);
    /* the spec's example (Modbus over serial line, 6.2.2): 01 03 00 00 00 02 C4 0B */
    static const uint8_t want_rtu[] = {0x01, 0x03, 0x00, 0x00, 0x00, 0x02, 0xC4, 0x0B};
    assert_int_equal(cg_mb_frame_request(&e, f), 8);
    assert_memory_equal(f, want_rtu, 8);
    cg_mb_expect_init(&e, false, 0x1234, 17, 4, 100, 10);
    static const uint8_t want_mbap[] = {0x12, 0x34, 0, 0, 0, 6, 17, 4, 0, 100, 0, 10};
    assert_int_equal(cg_mb_frame_request(&e, f), 12);
    assert_memory_equal(f, want_mbap, 12);
    assert_int_equal(e.byte_count, 20);
    cg_mb_expect_init(&e, false, 1, 1, 1, 0, 9);
    assert_int_equal(e.byte_count, 2); /* bits: 9 -> 2 bytes */
}

struct mbap_case {
    const char *what;
    uint8_t frame[16];
    size_t len;
    enum cg_mb_scan want;
    size_t used;
};

static void test_mbap(void **state)
{
    (void)state;
    struct cg_mb_expect e;
    cg_mb_expect_init(&e, false, 7, 17, 3, 0, 1); /* tid 7, unit 17, FC3, 1 register */
    static const struct mbap_case cases[] = {
        {"the answer", {0, 7, 0, 0, 0, 5, 17, 3, 2, 0x12, 0x34}, 11, CG_MB_SCAN_REPLY, 11},
        {"half a header", {0, 7, 0, 0, 0}, 5, CG_MB_SCAN_MORE, 0},
        {"header, body to come", {0, 7, 0, 0, 0, 5, 17, 3}, 8, CG_MB_SCAN_MORE, 0},
        {"an earlier try's tid", {0, 6, 0, 0, 0, 5, 17, 3, 2, 0xDE, 0xAD}, 11, CG_MB_SCAN_FOREIGN, 11},
        {"another unit id", {0, 7, 0, 0, 0, 5, 18, 3, 2, 0xDE, 0xAD}, 11, CG_MB_SCAN_FOREIGN, 11},
        {"protocol id 1", {0, 7, 0, 1, 0, 5, 17, 3, 2, 0xDE, 0xAD}, 11, CG_MB_SCAN_FOREIGN, 11},
        {"another function", {0, 7, 0, 0, 0, 5, 17, 4, 2, 0xDE, 0xAD}, 11, CG_MB_SCAN_FOREIGN, 11},
        {"byte count 4 for 1 register", {0, 7, 0, 0, 0, 7, 17, 3, 4, 0, 1, 0, 2}, 13, CG_MB_SCAN_FOREIGN, 13},
        {"byte count disagrees with length", {0, 7, 0, 0, 0, 5, 17, 3, 4, 0xDE, 0xAD}, 11, CG_MB_SCAN_FOREIGN, 11},
        {"exception", {0, 7, 0, 0, 0, 3, 17, 0x83, 2}, 9, CG_MB_SCAN_EXCEPTION, 9},
        {"length 0: out of step", {0, 7, 0, 0, 0, 0, 17, 3}, 8, CG_MB_SCAN_DESYNC, 8},
        {"length 300: out of step", {0, 7, 0, 0, 1, 44, 17, 3}, 8, CG_MB_SCAN_DESYNC, 8},
    };
    for (size_t i = 0; i < N(cases); i++) {
        size_t used = 99;
        const uint8_t *data = NULL;
        unsigned exc = 0, unit = 0;
        enum cg_mb_scan got = cg_mb_frame_scan(&e, cases[i].frame, cases[i].len, &used, &data, &exc, &unit);
        if (got != cases[i].want || (got != CG_MB_SCAN_MORE && used != cases[i].used)) {
            fail_msg("%s: got %d used %zu, want %d used %zu", cases[i].what, got, used, cases[i].want, cases[i].used);
        }
        if (got == CG_MB_SCAN_REPLY) {
            uint16_t w;
            cg_mb_frame_words(data, 1, &w);
            assert_int_equal(w, 0x1234);
        }
        if (got == CG_MB_SCAN_EXCEPTION) {
            assert_int_equal(exc, 2);
        }
    }
}

static void test_rtu(void **state)
{
    (void)state;
    struct cg_mb_expect e;
    cg_mb_expect_init(&e, true, 0, 0x11, 3, 0, 1); /* slave 17, FC3, 1 register */
    uint8_t buf[64];
    size_t used, n;
    const uint8_t *data;
    unsigned exc, unit;

    n = rtu(buf, (const uint8_t[]){0x11, 3, 2, 0x12, 0x34}, 5);
    assert_int_equal(cg_mb_frame_scan(&e, buf, n, &used, &data, &exc, &unit), CG_MB_SCAN_REPLY);
    assert_int_equal(used, 7);
    assert_int_equal(cg_mb_frame_scan(&e, buf, n - 1, &used, &data, &exc, &unit), CG_MB_SCAN_MORE);
    buf[3] ^= 1; /* one bit flipped: CRC fails */
    assert_int_equal(cg_mb_frame_scan(&e, buf, n, &used, &data, &exc, &unit), CG_MB_SCAN_MORE); /* an echo may be 8 */
    buf[n] = 0;
    assert_int_equal(cg_mb_frame_scan(&e, buf, n + 1, &used, &data, &exc, &unit), CG_MB_SCAN_JUNK);
    assert_int_equal(used, 1);

    /* a frame for another slave id, with the same shape: whole, foreign */
    n = rtu(buf, (const uint8_t[]){0x51, 3, 2, 0xDE, 0xAD}, 5);
    assert_int_equal(cg_mb_frame_scan(&e, buf, n, &used, &data, &exc, &unit), CG_MB_SCAN_FOREIGN);
    assert_int_equal(used, 7);
    assert_int_equal(unit, 0x51);
    /* two registers answered where one was asked */
    n = rtu(buf, (const uint8_t[]){0x11, 3, 4, 0, 1, 0, 2}, 7);
    assert_int_equal(cg_mb_frame_scan(&e, buf, n, &used, &data, &exc, &unit), CG_MB_SCAN_FOREIGN);
    /* our own request echoed (2-wire bus) */
    cg_mb_expect_init(&e, true, 0, 0x11, 3, 0, 1);
    n = cg_mb_frame_request(&e, buf);
    assert_int_equal(cg_mb_frame_scan(&e, buf, n, &used, &data, &exc, &unit), CG_MB_SCAN_FOREIGN);
    assert_int_equal(used, 8);
    /* exception */
    n = rtu(buf, (const uint8_t[]){0x11, 0x83, 2}, 3);
    assert_int_equal(cg_mb_frame_scan(&e, buf, n, &used, &data, &exc, &unit), CG_MB_SCAN_EXCEPTION);
    assert_int_equal(exc, 2);
    /* junk whose byte count promises a long frame must not hide the answer behind it */
    buf[0] = 0x11;
    buf[1] = 3;
    buf[2] = 200;
    n = 3 + rtu(buf + 3, (const uint8_t[]){0x11, 3, 2, 0x12, 0x34}, 5);
    assert_int_equal(cg_mb_frame_scan(&e, buf, n, &used, &data, &exc, &unit), CG_MB_SCAN_JUNK);
    assert_int_equal(used, 3);
    assert_int_equal(cg_mb_frame_scan(&e, buf + 3, n - 3, &used, &data, &exc, &unit), CG_MB_SCAN_REPLY);
}

static void test_bits(void **state)
{
    (void)state;
    const uint8_t data[] = {0x0D, 0x01};
    uint8_t b[9];
    cg_mb_frame_bits(data, 9, b);
    static const uint8_t want[] = {1, 0, 1, 1, 0, 0, 0, 0, 1};
    assert_memory_equal(b, want, 9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_frames),
        cmocka_unit_test(test_mbap),
        cmocka_unit_test(test_rtu),
        cmocka_unit_test(test_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
