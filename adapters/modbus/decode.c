/* citygate modbus — register words <-> values. Pure: see decode.h. */
#include "decode.h"

#include <errno.h>
#include <string.h>

static const char *const type_names[CG_MB_TYPE_COUNT] = {
    [CG_MB_BOOL] = "bool",       [CG_MB_INT8] = "int8",       [CG_MB_UINT8] = "uint8",
    [CG_MB_INT16] = "int16",     [CG_MB_UINT16] = "uint16",   [CG_MB_INT32] = "int32",
    [CG_MB_UINT32] = "uint32",   [CG_MB_INT64] = "int64",     [CG_MB_UINT64] = "uint64",
    [CG_MB_FLOAT32] = "float32", [CG_MB_FLOAT64] = "float64", [CG_MB_STRING] = "string",
    [CG_MB_BITS] = "bits",
};
static const char *const order_names[CG_MB_ORDER_COUNT] = {"ABCD", "CDAB", "BADC", "DCBA"};
static const char *const table_names[] = {"coil", "discrete", "input", "holding"};

const char *cg_mb_type_name(enum cg_mb_type t)
{
    return (unsigned)t < CG_MB_TYPE_COUNT ? type_names[t] : NULL;
}

int cg_mb_type_from_name(const char *s)
{
    for (int i = 0; s && i < CG_MB_TYPE_COUNT; i++) {
        if (strcmp(s, type_names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

const char *cg_mb_order_name(enum cg_mb_order o)
{
    return (unsigned)o < CG_MB_ORDER_COUNT ? order_names[o] : NULL;
}

int cg_mb_order_from_name(const char *s)
{
    for (int i = 0; s && i < CG_MB_ORDER_COUNT; i++) {
        if (strcmp(s, order_names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

const char *cg_mb_table_name(enum cg_mb_table t)
{
    return (unsigned)t < 4 ? table_names[t] : NULL;
}

/* Modbus Application Protocol v1.1b3, section 7. */
const char *cg_mb_exception_name(unsigned code)
{
    switch (code) {
    case 1: return "ILLEGAL FUNCTION";
    case 2: return "ILLEGAL DATA ADDRESS";
    case 3: return "ILLEGAL DATA VALUE";
    case 4: return "SERVER DEVICE FAILURE";
    case 5: return "ACKNOWLEDGE";
    case 6: return "SERVER DEVICE BUSY";
    case 8: return "MEMORY PARITY ERROR";
    case 10: return "GATEWAY PATH UNAVAILABLE";
    case 11: return "GATEWAY TARGET DEVICE FAILED TO RESPOND";
    default: return NULL;
    }
}

unsigned cg_mb_layout_words(const struct cg_mb_layout *l)
{
    switch (l->type) {
    case CG_MB_BOOL:
    case CG_MB_INT8:
    case CG_MB_UINT8:
    case CG_MB_INT16:
    case CG_MB_UINT16:
    case CG_MB_BITS: return 1;
    case CG_MB_INT32:
    case CG_MB_UINT32:
    case CG_MB_FLOAT32: return 2;
    case CG_MB_INT64:
    case CG_MB_UINT64:
    case CG_MB_FLOAT64: return 4;
    case CG_MB_STRING: return l->regs;
    default: return 0;
    }
}

static bool layout_ok(const struct cg_mb_layout *l)
{
    if ((unsigned)l->type >= CG_MB_TYPE_COUNT || (unsigned)l->order >= CG_MB_ORDER_COUNT) {
        return false;
    }
    if (l->type == CG_MB_BOOL && l->bit > 15) {
        return false;
    }
    if (l->type == CG_MB_BITS && (l->bits < 1 || l->bits > 16 || l->bit + l->bits > 16)) {
        return false;
    }
    if (l->type == CG_MB_STRING &&
        (l->regs < 1 || l->regs > CG_MB_STRING_MAX_REGS || l->chars_per_reg < 1 || l->chars_per_reg > 2)) {
        return false;
    }
    return true;
}

static bool word_swap(enum cg_mb_order o)
{
    return o == CG_MB_CDAB || o == CG_MB_DCBA;
}

static bool byte_swap(enum cg_mb_order o)
{
    return o == CG_MB_BADC || o == CG_MB_DCBA;
}

/* The n words (n = 1, 2, 4) as one big-endian unsigned integer. */
static uint64_t gather(const uint16_t *w, unsigned n, enum cg_mb_order o)
{
    uint64_t x = 0;
    for (unsigned i = 0; i < n; i++) {
        uint16_t v = w[word_swap(o) ? n - 1 - i : i];
        if (byte_swap(o)) {
            v = (uint16_t)((v >> 8) | (v << 8));
        }
        x = (x << 16) | v;
    }
    return x;
}

static void scatter(uint64_t x, uint16_t *w, unsigned n, enum cg_mb_order o)
{
    for (unsigned i = 0; i < n; i++) {
        uint16_t v = (uint16_t)(x >> (16 * (n - 1 - i)));
        if (byte_swap(o)) {
            v = (uint16_t)((v >> 8) | (v << 8));
        }
        w[word_swap(o) ? n - 1 - i : i] = v;
    }
}

static int64_t sign_extend(uint64_t x, unsigned bits)
{
    uint64_t m = 1ull << (bits - 1);
    if (bits == 64) {
        return (int64_t)x;
    }
    x &= (1ull << bits) - 1;
    return (int64_t)((x ^ m) - m);
}

int cg_mb_decode(const struct cg_mb_layout *l, const uint16_t *w, size_t nw, struct cg_mb_value *out)
{
    if (!layout_ok(l) || nw < cg_mb_layout_words(l)) {
        return -EINVAL;
    }
    struct cg_mb_value v = {0};
    uint64_t x;
    switch (l->type) {
    case CG_MB_BOOL:
        v.kind = CG_MB_V_BOOL;
        v.v.b = (w[0] >> l->bit) & 1u;
        break;
    case CG_MB_INT8:
    case CG_MB_UINT8:
        x = l->low_byte ? (w[0] & 0xffu) : (w[0] >> 8);
        if (l->type == CG_MB_INT8) {
            v.kind = CG_MB_V_INT;
            v.v.i = sign_extend(x, 8);
        } else {
            v.kind = CG_MB_V_UINT;
            v.v.u = x;
        }
        break;
    case CG_MB_BITS:
        v.kind = CG_MB_V_UINT;
        v.v.u = (gather(w, 1, l->order) >> l->bit) & ((1ull << l->bits) - 1);
        break;
    case CG_MB_INT16:
    case CG_MB_INT32:
    case CG_MB_INT64: {
        unsigned n = cg_mb_layout_words(l);
        v.kind = CG_MB_V_INT;
        v.v.i = sign_extend(gather(w, n, l->order), 16 * n);
        break;
    }
    case CG_MB_UINT16:
    case CG_MB_UINT32:
    case CG_MB_UINT64:
        v.kind = CG_MB_V_UINT;
        v.v.u = gather(w, cg_mb_layout_words(l), l->order);
        break;
    case CG_MB_FLOAT32: {
        uint32_t u = (uint32_t)gather(w, 2, l->order);
        float f;
        memcpy(&f, &u, sizeof f);
        v.kind = CG_MB_V_FLOAT;
        v.v.f = f;
        break;
    }
    case CG_MB_FLOAT64: {
        uint64_t u = gather(w, 4, l->order);
        double d;
        memcpy(&d, &u, sizeof d);
        v.kind = CG_MB_V_FLOAT;
        v.v.f = d;
        break;
    }
    case CG_MB_STRING: {
        size_t n = 0;
        bool swap = byte_swap(l->order);
        for (unsigned r = 0; r < l->regs; r++) {
            uint8_t c[2];
            unsigned k = 0;
            if (l->chars_per_reg == 1) {
                c[k++] = l->low_byte ? (uint8_t)(w[r] & 0xff) : (uint8_t)(w[r] >> 8);
            } else {
                c[k++] = swap ? (uint8_t)(w[r] & 0xff) : (uint8_t)(w[r] >> 8);
                c[k++] = swap ? (uint8_t)(w[r] >> 8) : (uint8_t)(w[r] & 0xff);
            }
            for (unsigned j = 0; j < k; j++) {
                if (c[j] == 0) {
                    goto ended;
                }
                v.s[n++] = (c[j] >= 0x20 && c[j] < 0x7f) ? (char)c[j] : '?';
            }
        }
    ended:
        while (n > 0 && v.s[n - 1] == ' ') {
            n--;
        }
        v.s[n] = '\0';
        v.kind = CG_MB_V_STRING;
        break;
    }
    default: return -EINVAL;
    }
    *out = v;
    return 0;
}

static bool kind_fits(enum cg_mb_type t, enum cg_mb_kind k)
{
    switch (t) {
    case CG_MB_BOOL: return k == CG_MB_V_BOOL;
    case CG_MB_INT8:
    case CG_MB_INT16:
    case CG_MB_INT32:
    case CG_MB_INT64: return k == CG_MB_V_INT;
    case CG_MB_UINT8:
    case CG_MB_UINT16:
    case CG_MB_UINT32:
    case CG_MB_UINT64:
    case CG_MB_BITS: return k == CG_MB_V_UINT;
    case CG_MB_FLOAT32:
    case CG_MB_FLOAT64: return k == CG_MB_V_FLOAT;
    case CG_MB_STRING: return k == CG_MB_V_STRING;
    default: return false;
    }
}

int cg_mb_encode(const struct cg_mb_layout *l, const struct cg_mb_value *v, uint16_t *w, size_t nw)
{
    if (!layout_ok(l) || nw < cg_mb_layout_words(l) || !kind_fits(l->type, v->kind)) {
        return -EINVAL;
    }
    unsigned n = cg_mb_layout_words(l);
    switch (l->type) {
    case CG_MB_BOOL:
        w[0] = (uint16_t)((w[0] & ~(1u << l->bit)) | ((unsigned)v->v.b << l->bit));
        break;
    case CG_MB_INT8:
    case CG_MB_UINT8: {
        unsigned b = (unsigned)((l->type == CG_MB_INT8 ? (uint64_t)v->v.i : v->v.u) & 0xff);
        w[0] = l->low_byte ? (uint16_t)((w[0] & 0xff00u) | b) : (uint16_t)((w[0] & 0x00ffu) | (b << 8));
        break;
    }
    case CG_MB_BITS: {
        uint64_t mask = ((1ull << l->bits) - 1) << l->bit;
        uint64_t cur = gather(w, 1, l->order);
        cur = (cur & ~mask) | ((v->v.u << l->bit) & mask);
        scatter(cur, w, 1, l->order);
        break;
    }
    case CG_MB_INT16:
    case CG_MB_INT32:
    case CG_MB_INT64: scatter((uint64_t)v->v.i, w, n, l->order); break;
    case CG_MB_UINT16:
    case CG_MB_UINT32:
    case CG_MB_UINT64: scatter(v->v.u, w, n, l->order); break;
    case CG_MB_FLOAT32: {
        float f = (float)v->v.f;
        uint32_t u;
        memcpy(&u, &f, sizeof u);
        scatter(u, w, 2, l->order);
        break;
    }
    case CG_MB_FLOAT64: {
        uint64_t u;
        memcpy(&u, &v->v.f, sizeof u);
        scatter(u, w, 4, l->order);
        break;
    }
    case CG_MB_STRING: {
        size_t len = strnlen(v->s, sizeof v->s), p = 0;
        bool swap = byte_swap(l->order);
        for (unsigned r = 0; r < l->regs; r++) {
            uint8_t c0 = p < len ? (uint8_t)v->s[p++] : 0;
            if (l->chars_per_reg == 1) {
                w[r] = l->low_byte ? c0 : (uint16_t)(c0 << 8);
            } else {
                uint8_t c1 = p < len ? (uint8_t)v->s[p++] : 0;
                w[r] = swap ? (uint16_t)((c1 << 8) | c0) : (uint16_t)((c0 << 8) | c1);
            }
        }
        break;
    }
    default: return -EINVAL;
    }
    return 0;
}
