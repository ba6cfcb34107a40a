/* Decoding of every type and byte order against reference words computed by
 * Python's struct module (tests/integration/modbus_decode_vectors.py), plus
 * bits, 8-bit halves, strings and the encoder round trip. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "decode.h"

struct vec {
    const char *type;
    const char *order;
    uint16_t w[4];
    union {
        int64_t i;
        uint64_t u;
        double f;
    } v;
};

static const struct vec vecs[] = {
    {"int16", "ABCD", {0x0000}, {.i = 0ll}},
    {"int16", "CDAB", {0x0000}, {.i = 0ll}},
    {"int16", "BADC", {0x0000}, {.i = 0ll}},
    {"int16", "DCBA", {0x0000}, {.i = 0ll}},
    {"int16", "ABCD", {0x0001}, {.i = 1ll}},
    {"int16", "CDAB", {0x0001}, {.i = 1ll}},
    {"int16", "BADC", {0x0100}, {.i = 1ll}},
    {"int16", "DCBA", {0x0100}, {.i = 1ll}},
    {"int16", "ABCD", {0xffff}, {.i = -1ll}},
    {"int16", "CDAB", {0xffff}, {.i = -1ll}},
    {"int16", "BADC", {0xffff}, {.i = -1ll}},
    {"int16", "DCBA", {0xffff}, {.i = -1ll}},
    {"int16", "ABCD", {0x3039}, {.i = 12345ll}},
    {"int16", "CDAB", {0x3039}, {.i = 12345ll}},
    {"int16", "BADC", {0x3930}, {.i = 12345ll}},
    {"int16", "DCBA", {0x3930}, {.i = 12345ll}},
    {"int16", "ABCD", {0x8000}, {.i = -32768ll}},
    {"int16", "CDAB", {0x8000}, {.i = -32768ll}},
    {"int16", "BADC", {0x0080}, {.i = -32768ll}},
    {"int16", "DCBA", {0x0080}, {.i = -32768ll}},
    {"int16", "ABCD", {0x7fff}, {.i = 32767ll}},
    {"int16", "CDAB", {0x7fff}, {.i = 32767ll}},
    {"int16", "BADC", {0xff7f}, {.i = 32767ll}},
    {"int16", "DCBA", {0xff7f}, {.i = 32767ll}},
    {"uint16", "ABCD", {0x0000}, {.u = 0ull}},
    {"uint16", "CDAB", {0x0000}, {.u = 0ull}},
    {"uint16", "BADC", {0x0000}, {.u = 0ull}},
    {"uint16", "DCBA", {0x0000}, {.u = 0ull}},
    {"uint16", "ABCD", {0x0001}, {.u = 1ull}},
    {"uint16", "CDAB", {0x0001}, {.u = 1ull}},
    {"uint16", "BADC", {0x0100}, {.u = 1ull}},
    {"uint16", "DCBA", {0x0100}, {.u = 1ull}},
    {"uint16", "ABCD", {0xffff}, {.u = 65535ull}},
    {"uint16", "CDAB", {0xffff}, {.u = 65535ull}},
    {"uint16", "BADC", {0xffff}, {.u = 65535ull}},
    {"uint16", "DCBA", {0xffff}, {.u = 65535ull}},
    {"uint16", "ABCD", {0x1234}, {.u = 4660ull}},
    {"uint16", "CDAB", {0x1234}, {.u = 4660ull}},
    {"uint16", "BADC", {0x3412}, {.u = 4660ull}},
    {"uint16", "DCBA", {0x3412}, {.u = 4660ull}},
    {"int32", "ABCD", {0x0000, 0x0000}, {.i = 0ll}},
    {"int32", "CDAB", {0x0000, 0x0000}, {.i = 0ll}},
    {"int32", "BADC", {0x0000, 0x0000}, {.i = 0ll}},
    {"int32", "DCBA", {0x0000, 0x0000}, {.i = 0ll}},
    {"int32", "ABCD", {0xffff, 0xffff}, {.i = -1ll}},
    {"int32", "CDAB", {0xffff, 0xffff}, {.i = -1ll}},
    {"int32", "BADC", {0xffff, 0xffff}, {.i = -1ll}},
    {"int32", "DCBA", {0xffff, 0xffff}, {.i = -1ll}},
    {"int32", "ABCD", {0x075b, 0xcd15}, {.i = 123456789ll}},
    {"int32", "CDAB", {0xcd15, 0x075b}, {.i = 123456789ll}},
    {"int32", "BADC", {0x5b07, 0x15cd}, {.i = 123456789ll}},
    {"int32", "DCBA", {0x15cd, 0x5b07}, {.i = 123456789ll}},
    {"int32", "ABCD", {0x8000, 0x0000}, {.i = -2147483648ll}},
    {"int32", "CDAB", {0x0000, 0x8000}, {.i = -2147483648ll}},
    {"int32", "BADC", {0x0080, 0x0000}, {.i = -2147483648ll}},
    {"int32", "DCBA", {0x0000, 0x0080}, {.i = -2147483648ll}},
    {"int32", "ABCD", {0x7fff, 0xffff}, {.i = 2147483647ll}},
    {"int32", "CDAB", {0xffff, 0x7fff}, {.i = 2147483647ll}},
    {"int32", "BADC", {0xff7f, 0xffff}, {.i = 2147483647ll}},
    {"int32", "DCBA", {0xffff, 0xff7f}, {.i = 2147483647ll}},
    {"int32", "ABCD", {0xfffe, 0x7960}, {.i = -100000ll}},
    {"int32", "CDAB", {0x7960, 0xfffe}, {.i = -100000ll}},
    {"int32", "BADC", {0xfeff, 0x6079}, {.i = -100000ll}},
    {"int32", "DCBA", {0x6079, 0xfeff}, {.i = -100000ll}},
    {"uint32", "ABCD", {0x0000, 0x0000}, {.u = 0ull}},
    {"uint32", "CDAB", {0x0000, 0x0000}, {.u = 0ull}},
    {"uint32", "BADC", {0x0000, 0x0000}, {.u = 0ull}},
    {"uint32", "DCBA", {0x0000, 0x0000}, {.u = 0ull}},
    {"uint32", "ABCD", {0xffff, 0xffff}, {.u = 4294967295ull}},
    {"uint32", "CDAB", {0xffff, 0xffff}, {.u = 4294967295ull}},
    {"uint32", "BADC", {0xffff, 0xffff}, {.u = 4294967295ull}},
    {"uint32", "DCBA", {0xffff, 0xffff}, {.u = 4294967295ull}},
    {"uint32", "ABCD", {0x1234, 0x5678}, {.u = 305419896ull}},
    {"uint32", "CDAB", {0x5678, 0x1234}, {.u = 305419896ull}},
    {"uint32", "BADC", {0x3412, 0x7856}, {.u = 305419896ull}},
    {"uint32", "DCBA", {0x7856, 0x3412}, {.u = 305419896ull}},
    {"uint32", "ABCD", {0x0000, 0x00e6}, {.u = 230ull}},
    {"uint32", "CDAB", {0x00e6, 0x0000}, {.u = 230ull}},
    {"uint32", "BADC", {0x0000, 0xe600}, {.u = 230ull}},
    {"uint32", "DCBA", {0xe600, 0x0000}, {.u = 230ull}},
    {"int64", "ABCD", {0x0000, 0x0000, 0x0000, 0x0000}, {.i = 0ll}},
    {"int64", "CDAB", {0x0000, 0x0000, 0x0000, 0x0000}, {.i = 0ll}},
    {"int64", "BADC", {0x0000, 0x0000, 0x0000, 0x0000}, {.i = 0ll}},
    {"int64", "DCBA", {0x0000, 0x0000, 0x0000, 0x0000}, {.i = 0ll}},
    {"int64", "ABCD", {0xffff, 0xffff, 0xffff, 0xffff}, {.i = -1ll}},
    {"int64", "CDAB", {0xffff, 0xffff, 0xffff, 0xffff}, {.i = -1ll}},
    {"int64", "BADC", {0xffff, 0xffff, 0xffff, 0xffff}, {.i = -1ll}},
    {"int64", "DCBA", {0xffff, 0xffff, 0xffff, 0xffff}, {.i = -1ll}},
    {"int64", "ABCD", {0x1122, 0x10f4, 0x7de9, 0x8115}, {.i = 1234567890123456789ll}},
    {"int64", "CDAB", {0x8115, 0x7de9, 0x10f4, 0x1122}, {.i = 1234567890123456789ll}},
    {"int64", "BADC", {0x2211, 0xf410, 0xe97d, 0x1581}, {.i = 1234567890123456789ll}},
    {"int64", "DCBA", {0x1581, 0xe97d, 0xf410, 0x2211}, {.i = 1234567890123456789ll}},
    {"int64", "ABCD", {0x8000, 0x0000, 0x0000, 0x0000}, {.i = INT64_MIN}},
    {"int64", "CDAB", {0x0000, 0x0000, 0x0000, 0x8000}, {.i = INT64_MIN}},
    {"int64", "BADC", {0x0080, 0x0000, 0x0000, 0x0000}, {.i = INT64_MIN}},
    {"int64", "DCBA", {0x0000, 0x0000, 0x0000, 0x0080}, {.i = INT64_MIN}},
    {"int64", "ABCD", {0x7fff, 0xffff, 0xffff, 0xffff}, {.i = 9223372036854775807ll}},
    {"int64", "CDAB", {0xffff, 0xffff, 0xffff, 0x7fff}, {.i = 9223372036854775807ll}},
    {"int64", "BADC", {0xff7f, 0xffff, 0xffff, 0xffff}, {.i = 9223372036854775807ll}},
    {"int64", "DCBA", {0xffff, 0xffff, 0xffff, 0xff7f}, {.i = 9223372036854775807ll}},
    {"uint64", "ABCD", {0x0000, 0x0000, 0x0000, 0x0000}, {.u = 0ull}},
    {"uint64", "CDAB", {0x0000, 0x0000, 0x0000, 0x0000}, {.u = 0ull}},
    {"uint64", "BADC", {0x0000, 0x0000, 0x0000, 0x0000}, {.u = 0ull}},
    {"uint64", "DCBA", {0x0000, 0x0000, 0x0000, 0x0000}, {.u = 0ull}},
    {"uint64", "ABCD", {0xffff, 0xffff, 0xffff, 0xffff}, {.u = 18446744073709551615ull}},
    {"uint64", "CDAB", {0xffff, 0xffff, 0xffff, 0xffff}, {.u = 18446744073709551615ull}},
    {"uint64", "BADC", {0xffff, 0xffff, 0xffff, 0xffff}, {.u = 18446744073709551615ull}},
    {"uint64", "DCBA", {0xffff, 0xffff, 0xffff, 0xffff}, {.u = 18446744073709551615ull}},
    {"uint64", "ABCD", {0x0102, 0x0304, 0x0506, 0x0708}, {.u = 72623859790382856ull}},
    {"uint64", "CDAB", {0x0708, 0x0506, 0x0304, 0x0102}, {.u = 72623859790382856ull}},
    {"uint64", "BADC", {0x0201, 0x0403, 0x0605, 0x0807}, {.u = 72623859790382856ull}},
    {"uint64", "DCBA", {0x0807, 0x0605, 0x0403, 0x0201}, {.u = 72623859790382856ull}},
    {"float32", "ABCD", {0x0000, 0x0000}, {.f = 0.0}},
    {"float32", "CDAB", {0x0000, 0x0000}, {.f = 0.0}},
    {"float32", "BADC", {0x0000, 0x0000}, {.f = 0.0}},
    {"float32", "DCBA", {0x0000, 0x0000}, {.f = 0.0}},
    {"float32", "ABCD", {0x3f80, 0x0000}, {.f = 1.0}},
    {"float32", "CDAB", {0x0000, 0x3f80}, {.f = 1.0}},
    {"float32", "BADC", {0x803f, 0x0000}, {.f = 1.0}},
    {"float32", "DCBA", {0x0000, 0x803f}, {.f = 1.0}},
    {"float32", "ABCD", {0xc020, 0x0000}, {.f = -2.5}},
    {"float32", "CDAB", {0x0000, 0xc020}, {.f = -2.5}},
    {"float32", "BADC", {0x20c0, 0x0000}, {.f = -2.5}},
    {"float32", "DCBA", {0x0000, 0x20c0}, {.f = -2.5}},
    {"float32", "ABCD", {0x4366, 0x199a}, {.f = 230.10000610351562}},
    {"float32", "CDAB", {0x199a, 0x4366}, {.f = 230.10000610351562}},
    {"float32", "BADC", {0x6643, 0x9a19}, {.f = 230.10000610351562}},
    {"float32", "DCBA", {0x9a19, 0x6643}, {.f = 230.10000610351562}},
    {"float32", "ABCD", {0x7f7f, 0xffff}, {.f = 3.4028234663852886e+38}},
    {"float32", "CDAB", {0xffff, 0x7f7f}, {.f = 3.4028234663852886e+38}},
    {"float32", "BADC", {0x7f7f, 0xffff}, {.f = 3.4028234663852886e+38}},
    {"float32", "DCBA", {0xffff, 0x7f7f}, {.f = 3.4028234663852886e+38}},
    {"float32", "ABCD", {0x0000, 0x0001}, {.f = 1.401298464324817e-45}},
    {"float32", "CDAB", {0x0001, 0x0000}, {.f = 1.401298464324817e-45}},
    {"float32", "BADC", {0x0000, 0x0100}, {.f = 1.401298464324817e-45}},
    {"float32", "DCBA", {0x0100, 0x0000}, {.f = 1.401298464324817e-45}},
    {"float64", "ABCD", {0x0000, 0x0000, 0x0000, 0x0000}, {.f = 0.0}},
    {"float64", "CDAB", {0x0000, 0x0000, 0x0000, 0x0000}, {.f = 0.0}},
    {"float64", "BADC", {0x0000, 0x0000, 0x0000, 0x0000}, {.f = 0.0}},
    {"float64", "DCBA", {0x0000, 0x0000, 0x0000, 0x0000}, {.f = 0.0}},
    {"float64", "ABCD", {0xbff8, 0x0000, 0x0000, 0x0000}, {.f = -1.5}},
    {"float64", "CDAB", {0x0000, 0x0000, 0x0000, 0xbff8}, {.f = -1.5}},
    {"float64", "BADC", {0xf8bf, 0x0000, 0x0000, 0x0000}, {.f = -1.5}},
    {"float64", "DCBA", {0x0000, 0x0000, 0x0000, 0xf8bf}, {.f = -1.5}},
    {"float64", "ABCD", {0x4009, 0x21fb, 0x5444, 0x2d18}, {.f = 3.141592653589793}},
    {"float64", "CDAB", {0x2d18, 0x5444, 0x21fb, 0x4009}, {.f = 3.141592653589793}},
    {"float64", "BADC", {0x0940, 0xfb21, 0x4454, 0x182d}, {.f = 3.141592653589793}},
    {"float64", "DCBA", {0x182d, 0x4454, 0xfb21, 0x0940}, {.f = 3.141592653589793}},
    {"float64", "ABCD", {0x7e37, 0xe43c, 0x8800, 0x759c}, {.f = 1e+300}},
    {"float64", "CDAB", {0x759c, 0x8800, 0xe43c, 0x7e37}, {.f = 1e+300}},
    {"float64", "BADC", {0x377e, 0x3ce4, 0x0088, 0x9c75}, {.f = 1e+300}},
    {"float64", "DCBA", {0x9c75, 0x0088, 0x3ce4, 0x377e}, {.f = 1e+300}},
    {"float64", "ABCD", {0x40fe, 0x240c, 0x9fbe, 0x76c9}, {.f = 123456.789}},
    {"float64", "CDAB", {0x76c9, 0x9fbe, 0x240c, 0x40fe}, {.f = 123456.789}},
    {"float64", "BADC", {0xfe40, 0x0c24, 0xbe9f, 0xc976}, {.f = 123456.789}},
    {"float64", "DCBA", {0xc976, 0xbe9f, 0x0c24, 0xfe40}, {.f = 123456.789}},
};

static struct cg_mb_layout layout_of(const char *type, const char *order)
{
    struct cg_mb_layout l = {0};
    int t = cg_mb_type_from_name(type), o = cg_mb_order_from_name(order);
    assert_true(t >= 0);
    assert_true(o >= 0);
    l.type = (enum cg_mb_type)t;
    l.order = (enum cg_mb_order)o;
    return l;
}

static void test_vectors(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof vecs / sizeof vecs[0]; k++) {
        const struct vec *x = &vecs[k];
        struct cg_mb_layout l = layout_of(x->type, x->order);
        unsigned n = cg_mb_layout_words(&l);
        struct cg_mb_value v;
        assert_int_equal(cg_mb_decode(&l, x->w, n, &v), 0);
        if (x->type[0] == 'f') {
            assert_int_equal(v.kind, CG_MB_V_FLOAT);
            if (v.v.f != x->v.f) {
                fail_msg("%s %s #%zu: got %.17g want %.17g", x->type, x->order, k, v.v.f, x->v.f);
            }
        } else if (x->type[0] == 'u') {
            assert_int_equal(v.kind, CG_MB_V_UINT);
            assert_true(v.v.u == x->v.u);
        } else {
            assert_int_equal(v.kind, CG_MB_V_INT);
            assert_true(v.v.i == x->v.i);
        }
        /* and back: the encoder must reproduce the reference words */
        uint16_t w[4] = {0};
        assert_int_equal(cg_mb_encode(&l, &v, w, 4), 0);
        assert_memory_equal(w, x->w, n * sizeof(uint16_t));
        /* one word short is refused, never read past the end */
        assert_int_equal(cg_mb_decode(&l, x->w, n - 1, &v), -EINVAL);
    }
}

/* The classic support thread: 230.1 V sent as CDAB and read as ABCD. */
static void test_wrong_order_gives_garbage(void **state)
{
    (void)state;
    const uint16_t w[2] = {0x1999, 0x4366}; /* 230.1f in CDAB */
    struct cg_mb_layout l = layout_of("float32", "CDAB");
    struct cg_mb_value v;
    assert_int_equal(cg_mb_decode(&l, w, 2, &v), 0);
    assert_true(fabs(v.v.f - 230.1) < 1e-4);
    l.order = CG_MB_ABCD;
    assert_int_equal(cg_mb_decode(&l, w, 2, &v), 0);
    assert_true(fabs(v.v.f - 230.1) > 1);
}

static void test_bits_and_bytes(void **state)
{
    (void)state;
    const uint16_t w[1] = {0xA5C3}; /* 1010 0101 1100 0011 */
    struct cg_mb_value v;
    struct cg_mb_layout l = {.type = CG_MB_BOOL};
    for (unsigned b = 0; b < 16; b++) {
        l.bit = (uint8_t)b;
        assert_int_equal(cg_mb_decode(&l, w, 1, &v), 0);
        assert_int_equal(v.kind, CG_MB_V_BOOL);
        assert_int_equal(v.v.b, (0xA5C3 >> b) & 1);
    }
    l = (struct cg_mb_layout){.type = CG_MB_BITS, .bit = 4, .bits = 8};
    assert_int_equal(cg_mb_decode(&l, w, 1, &v), 0);
    assert_true(v.v.u == 0x5C);
    l.order = CG_MB_BADC; /* register C3 A5 on the wire */
    assert_int_equal(cg_mb_decode(&l, w, 1, &v), 0);
    assert_true(v.v.u == 0x3A);
    l = (struct cg_mb_layout){.type = CG_MB_BITS, .bit = 12, .bits = 5};
    assert_int_equal(cg_mb_decode(&l, w, 1, &v), -EINVAL); /* past bit 15 */
    l = (struct cg_mb_layout){.type = CG_MB_BOOL, .bit = 16};
    assert_int_equal(cg_mb_decode(&l, w, 1, &v), -EINVAL);

    l = (struct cg_mb_layout){.type = CG_MB_UINT8};
    assert_int_equal(cg_mb_decode(&l, w, 1, &v), 0);
    assert_true(v.v.u == 0xA5);
    l.low_byte = true;
    assert_int_equal(cg_mb_decode(&l, w, 1, &v), 0);
    assert_true(v.v.u == 0xC3);
    l.type = CG_MB_INT8;
    assert_int_equal(cg_mb_decode(&l, w, 1, &v), 0);
    assert_true(v.v.i == -61);
    l.low_byte = false;
    assert_int_equal(cg_mb_decode(&l, w, 1, &v), 0);
    assert_true(v.v.i == -91);

    /* encoding a bit, a bit field or a byte leaves the other bits alone */
    uint16_t x[1] = {0xFFFF};
    v = (struct cg_mb_value){.kind = CG_MB_V_BOOL, .v.b = false};
    l = (struct cg_mb_layout){.type = CG_MB_BOOL, .bit = 3};
    assert_int_equal(cg_mb_encode(&l, &v, x, 1), 0);
    assert_int_equal(x[0], 0xFFF7);
    v = (struct cg_mb_value){.kind = CG_MB_V_UINT, .v.u = 0};
    l = (struct cg_mb_layout){.type = CG_MB_BITS, .bit = 8, .bits = 4};
    assert_int_equal(cg_mb_encode(&l, &v, x, 1), 0);
    assert_int_equal(x[0], 0xF0F7);
    v = (struct cg_mb_value){.kind = CG_MB_V_UINT, .v.u = 0x12};
    l = (struct cg_mb_layout){.type = CG_MB_UINT8, .low_byte = true};
    assert_int_equal(cg_mb_encode(&l, &v, x, 1), 0);
    assert_int_equal(x[0], 0xF012);
    /* kind mismatch is refused */
    v = (struct cg_mb_value){.kind = CG_MB_V_FLOAT, .v.f = 1};
    assert_int_equal(cg_mb_encode(&l, &v, x, 1), -EINVAL);
}

static void test_strings(void **state)
{
    (void)state;
    struct cg_mb_value v;
    /* "SDM630" + NUL padding, two characters per register, high byte first */
    const uint16_t a[4] = {0x5344, 0x4d36, 0x3330, 0x0000};
    struct cg_mb_layout l = {.type = CG_MB_STRING, .chars_per_reg = 2, .regs = 4};
    assert_int_equal(cg_mb_decode(&l, a, 4, &v), 0);
    assert_int_equal(v.kind, CG_MB_V_STRING);
    assert_string_equal(v.s, "SDM630");
    l.order = CG_MB_BADC; /* bytes swapped in each register */
    assert_int_equal(cg_mb_decode(&l, a, 4, &v), 0);
    assert_string_equal(v.s, "DS6M03");
    l.order = CG_MB_CDAB; /* word order does not apply to strings */
    assert_int_equal(cg_mb_decode(&l, a, 4, &v), 0);
    assert_string_equal(v.s, "SDM630");
    /* one character per register (Carlo Gavazzi EM340 style), low byte */
    const uint16_t b[5] = {0x0045, 0x004d, 0x0033, 0x0020, 0x0020};
    l = (struct cg_mb_layout){.type = CG_MB_STRING, .chars_per_reg = 1, .low_byte = true, .regs = 5};
    assert_int_equal(cg_mb_decode(&l, b, 5, &v), 0);
    assert_string_equal(v.s, "EM3"); /* trailing spaces trimmed */
    l.low_byte = false;
    assert_int_equal(cg_mb_decode(&l, b, 5, &v), 0);
    assert_string_equal(v.s, "");
    /* control and high bytes never reach the output */
    const uint16_t c[2] = {0x41ff, 0x0a42};
    l = (struct cg_mb_layout){.type = CG_MB_STRING, .chars_per_reg = 2, .regs = 2};
    assert_int_equal(cg_mb_decode(&l, c, 2, &v), 0);
    assert_string_equal(v.s, "A??B");
    /* round trip, both layouts */
    struct cg_mb_value in = {.kind = CG_MB_V_STRING};
    strcpy(in.s, "citygate");
    uint16_t w[8];
    for (int cpr = 1; cpr <= 2; cpr++) {
        for (int o = 0; o < CG_MB_ORDER_COUNT; o++) {
            l = (struct cg_mb_layout){.type = CG_MB_STRING, .chars_per_reg = (uint8_t)cpr, .regs = 8,
                                      .order = (enum cg_mb_order)o, .low_byte = o & 1};
            assert_int_equal(cg_mb_encode(&l, &in, w, 8), 0);
            assert_int_equal(cg_mb_decode(&l, w, 8, &v), 0);
            assert_string_equal(v.s, cpr == 2 ? "citygate" : "citygate");
        }
    }
    l = (struct cg_mb_layout){.type = CG_MB_STRING, .chars_per_reg = 3, .regs = 2};
    assert_int_equal(cg_mb_decode(&l, c, 2, &v), -EINVAL);
    l = (struct cg_mb_layout){.type = CG_MB_STRING, .chars_per_reg = 2, .regs = 0};
    assert_int_equal(cg_mb_decode(&l, c, 2, &v), -EINVAL);
}

static void test_names(void **state)
{
    (void)state;
    for (int t = 0; t < CG_MB_TYPE_COUNT; t++) {
        assert_int_equal(cg_mb_type_from_name(cg_mb_type_name((enum cg_mb_type)t)), t);
    }
    for (int o = 0; o < CG_MB_ORDER_COUNT; o++) {
        assert_int_equal(cg_mb_order_from_name(cg_mb_order_name((enum cg_mb_order)o)), o);
    }
    assert_int_equal(cg_mb_type_from_name("float"), -1);
    assert_int_equal(cg_mb_order_from_name("abcd"), -1);
    assert_string_equal(cg_mb_exception_name(2), "ILLEGAL DATA ADDRESS");
    assert_null(cg_mb_exception_name(7));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),       cmocka_unit_test(test_wrong_order_gives_garbage),
        cmocka_unit_test(test_bits_and_bytes), cmocka_unit_test(test_strings),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
